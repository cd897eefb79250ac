namespace Dms.Platform.Http;

/// <summary>
/// Route and query ids arrive as strings so that a malformed one is a clear 400 rather than an empty
/// 404 from a route constraint.
/// </summary>
internal static class RouteIds
{
    public static Guid Parse(string value, string name = "id") =>
        Guid.TryParseExact(value, "D", out var id)
            ? id
            : throw new ApiProblem(StatusCodes.Status400BadRequest, "request.invalid_id", $"'{name}' must be a UUID.",
                $"'{Truncate(value)}' is not a UUID like 3f2b8c1e-6a4d-4e0f-9b7a-2c5d8e1f0a3b.");

    public static Guid? ParseOptional(string? value, string name) =>
        string.IsNullOrEmpty(value) ? null : Parse(value, name);

    private static string Truncate(string value) => value.Length > 64 ? value[..64] + "…" : value;
}
