namespace Dms.Platform.Http;

/// <summary>
/// A client-facing error: becomes an RFC 9457 problem+json response with a stable <c>code</c>.
/// Thrown from handlers; nothing else is ever shown to a client.
/// </summary>
internal sealed class ApiProblem(int status, string code, string title, string? detail = null) : Exception(title)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public string Title { get; } = title;
    public string? Detail { get; } = detail;
    public IDictionary<string, string[]>? Errors { get; init; }

    /// <summary>Response headers that belong to the error (Retry-After, Content-Range), kept when the response is reset.</summary>
    public IDictionary<string, string>? Headers { get; init; }

    /// <summary>Further members of the problem body that tell the client what it ran into (a lock's holder and since when).</summary>
    public IDictionary<string, object?>? Extensions { get; init; }

    public static ApiProblem NotFound(string entity) =>
        new(StatusCodes.Status404NotFound, $"{entity}.not_found", $"The {entity} does not exist.");

    public static ApiProblem Validation(IDictionary<string, string[]> errors) =>
        new(StatusCodes.Status400BadRequest, "validation.failed", "The request has invalid fields.",
            string.Join(" ", errors.SelectMany(e => e.Value)))
        { Errors = errors };

    public static ApiProblem Validation(string field, string message) =>
        Validation(new Dictionary<string, string[]> { [field] = [message] });

    public static ApiProblem Forbidden(string code, string title) => new(StatusCodes.Status403Forbidden, code, title);

    public static ApiProblem Conflict(string code, string title) => new(StatusCodes.Status409Conflict, code, title);
}

/// <summary>Collects field errors and throws one <see cref="ApiProblem"/> listing them all.</summary>
internal sealed class Validator
{
    private readonly Dictionary<string, List<string>> _errors = [];

    public Validator Require(bool condition, string field, string message)
    {
        if (!condition)
        {
            if (!_errors.TryGetValue(field, out var list))
            {
                _errors[field] = list = [];
            }
            list.Add(message);
        }
        return this;
    }

    public void ThrowIfInvalid()
    {
        if (_errors.Count > 0)
        {
            throw ApiProblem.Validation(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));
        }
    }
}
