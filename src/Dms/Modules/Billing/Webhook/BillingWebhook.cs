using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dms.Modules.Access;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Testing;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Billing.Webhook;

/// <summary>The answer to the provider: the event's id and what it did (<c>pending</c>: stored, to be applied by the worker).</summary>
internal sealed record BillingWebhookResponse(string Id, string Outcome, bool Duplicate);

/// <summary>
/// <c>Billing-Signature: t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256 of "{t}.{body}"&gt;</c>, several <c>v1</c> allowed (the
/// provider rotating its secret sends one per secret): any that matches is enough.
/// </summary>
internal static class BillingSignature
{
    public const string Header = "Billing-Signature";

    public static void Verify(string? header, ReadOnlySpan<byte> body, string secret, DateTimeOffset now, TimeSpan tolerance)
    {
        long? timestamp = null;
        var signatures = new List<byte[]>();
        foreach (var part in (header ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                continue;
            }
            var (key, value) = (part[..eq], part[(eq + 1)..]);
            if (key == "t" && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var t))
            {
                timestamp = t;
            }
            else if (key == "v1" && value.Length == 64)
            {
                try
                {
                    signatures.Add(Convert.FromHexString(value));
                }
                catch (FormatException)
                {
                    // Not hex: cannot match; the others may.
                }
            }
        }
        if (timestamp is not { } ts || signatures.Count == 0)
        {
            throw Invalid();
        }
        var expected = Sign(secret, ts, body);
        if (!signatures.Any(s => CryptographicOperations.FixedTimeEquals(s, expected)))
        {
            throw Invalid();
        }
        if (Math.Abs(now.ToUnixTimeSeconds() - ts) > tolerance.TotalSeconds)
        {
            throw new ApiProblem(StatusCodes.Status401Unauthorized, "billing.stale_timestamp",
                "The signature's timestamp is too far from now.", $"Signatures are accepted within {tolerance.TotalSeconds:0} seconds of the server's time.");
        }
    }

    public static byte[] Sign(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        return HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed);
    }

    private static ApiProblem Invalid() => new(StatusCodes.Status401Unauthorized, "billing.invalid_signature",
        $"The {Header} header is missing or does not match the body.");
}

/// <summary><c>POST /api/v1/billing/webhook</c>: verify, store once, apply (docs/billing.md).</summary>
internal static class BillingWebhookEndpoint
{
    public static async Task<IResult> Receive(HttpContext http, IOptions<BillingOptions> options, BillingEvents events, Db db, TimeProvider clock,
        FaultInjection faults, ILoggerFactory logs, CancellationToken ct)
    {
        var settings = options.Value;
        if (string.IsNullOrEmpty(settings.WebhookSecret))
        {
            throw new ApiProblem(StatusCodes.Status404NotFound, "billing.disabled", "The billing webhook is not configured on this server.");
        }
        var body = await ReadBodyAsync(http.Request, settings.MaxWebhookBytes, ct);
        BillingSignature.Verify(http.Request.Headers[BillingSignature.Header].ToString(), body, settings.WebhookSecret, clock.GetUtcNow(), settings.SignatureTolerance);
        var (id, type, created, slug) = Parse(body);
        var tenant = await TenantDirectory.IdBySlugAsync(db, slug, ct)
            ?? throw new ApiProblem(StatusCodes.Status404NotFound, "billing.unknown_tenant", "No organisation has the slug the event names.");
        var stored = await events.StoreAsync(tenant, id, type, created, Encoding.UTF8.GetString(body), ct);
        if (stored)
        {
            faults.BillingEventStored(id);
        }
        try
        {
            // Inline for a fast answer; a duplicate waits here on the first delivery's lock and finds it done.
            var outcome = await events.ApplyAsync(tenant, id, ct);
            return Results.Ok(new BillingWebhookResponse(id, outcome.Json(), !stored));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Stored and committed with its outbox message: the worker applies it. The provider must not resend.
            logs.CreateLogger("Dms.Billing").LogWarning(ex, "Billing event {EventId} is stored; applying it inline failed, the outbox will retry", id);
            return Results.Ok(new BillingWebhookResponse(id, "pending", !stored));
        }
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, int limit, CancellationToken ct)
    {
        if (request.ContentLength > limit)
        {
            throw TooLarge(limit);
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw TooLarge(limit);
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static ApiProblem TooLarge(int limit) => new(StatusCodes.Status413PayloadTooLarge, "request.too_large", "The request body is too large.",
        $"Billing events are at most {limit} bytes.");

    private static (string Id, string Type, DateTime Created, string Tenant) Parse(byte[] body)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "request.malformed", "The request could not be read.", "The body is not valid JSON.");
        }
        using (json)
        {
            var root = json.RootElement;
            string? Text(JsonElement e, string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var id = Text(root, "id");
            var type = Text(root, "type");
            long? created = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("created", out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetInt64(out var s) ? s : null;
            var tenant = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("data", out var data) ? Text(data, "tenant") : null;
            new Validator()
                .Require(id is { Length: >= 1 and <= 200 } && !id.Any(char.IsControl), "id", "id is required (1-200 characters).")
                .Require(type is { Length: >= 1 and <= 200 } && !type.Any(char.IsControl), "type", "type is required (1-200 characters).")
                .Require(created is > 0 and < 253402300799, "created", "created is required: the event's time in Unix seconds.")
                .Require(!string.IsNullOrWhiteSpace(tenant), "data.tenant", "data.tenant is required: the organisation's slug.")
                .ThrowIfInvalid();
            return (id!, type!, DateTimeOffset.FromUnixTimeSeconds(created!.Value).UtcDateTime, tenant!);
        }
    }
}
