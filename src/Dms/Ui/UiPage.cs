using System.Text.Json;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace Dms.Ui;

/// <summary>
/// Base of every page: calls the API's handler methods with the page's own HttpContext (the cookie principal
/// carries the token's claims) and turns their results and problems into view data and plain-words messages.
/// </summary>
internal abstract class UiPage : PageModel
{
    /// <summary>The message of a failed action on this request, shown above the page's content.</summary>
    public string? Error { get; set; }

    public CurrentUser Me => CurrentUser.From(User);

    /// <summary>The value a handler answered with, as <typeparamref name="T"/>.</summary>
    protected T Value<T>(IResult result)
    {
        var value = result is IValueHttpResult v ? v.Value : null;
        if (value is T typed)
        {
            return typed;
        }
        // Handlers that answer with anonymous shapes ({ items }) are read through their JSON form, as a client would.
        var json = HttpContext.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        return JsonSerializer.Deserialize<T>(JsonSerializer.SerializeToUtf8Bytes(value, json), json)
            ?? throw new InvalidOperationException($"The handler answered with no {typeof(T).Name}.");
    }

    protected async Task<T> Call<T>(Task<IResult> call) => Value<T>(await call);

    /// <summary>The API's problem in plain words: its title, and its detail when it adds something.</summary>
    public static string Plain(ApiProblem problem) =>
        string.IsNullOrWhiteSpace(problem.Detail) || problem.Detail == problem.Title ? problem.Title : $"{problem.Title} {problem.Detail}";

    /// <summary>Runs an action; a problem becomes <see cref="Error"/> and the page is shown again.</summary>
    protected async Task<IActionResult> Attempt(Func<Task<IActionResult>> action, Func<Task<IActionResult>> onError)
    {
        try
        {
            return await action();
        }
        catch (ApiProblem problem)
        {
            Error = Plain(problem);
            if (problem.Status == StatusCodes.Status412PreconditionFailed || problem.Status == StatusCodes.Status429TooManyRequests)
            {
                Response.StatusCode = problem.Status;
            }
            else if (problem.Status is >= 400 and < 500)
            {
                Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
            }
            return await onError();
        }
    }

    /// <summary>Post/redirect/get with a message for the next page.</summary>
    protected IActionResult Done(string message, string url)
    {
        TempData["Flash"] = message;
        return Redirect(url);
    }
}

/// <summary>Small display helpers for the views.</summary>
internal static class Display
{
    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.#} MB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):0.##} GB",
    };

    public static string When(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm 'UTC'", System.Globalization.CultureInfo.InvariantCulture);

    public static string When(DateTime? utc) => utc is { } t ? When(t) : "";

    public static string StatusClass(string status) => status switch
    {
        "Active" or "Approved" or "Executed" => "badge ok",
        "Pending" or "PendingDelete" or "PendingReplace" => "badge warn",
        "Rejected" or "Failed" or "Deleted" => "badge bad",
        _ => "badge",
    };

    /// <summary>The browser can show these itself, safely; never HTML, SVG or XML.</summary>
    public static bool CanPreview(string contentType) => contentType is "application/pdf" or "image/png" or "image/jpeg";
}
