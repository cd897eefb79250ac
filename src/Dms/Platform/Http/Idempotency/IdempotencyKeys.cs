using System.Diagnostics;
using System.Security.Cryptography;
using Dms.Platform.Configuration;
using Dms.Platform.Observability;
using Dms.Platform.Security;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Dms.Platform.Http.Idempotency;

/// <summary>
/// <c>Idempotency-Key</c> on every POST and PATCH under <c>/api/v1</c> made by a signed-in user (docs/api.md, ADR 0022).
/// The first request with a key claims it and runs; its answer (below 500) is kept, encrypted, with the request's
/// fingerprint. A retry with the same key and the same request gets that answer back (<c>Idempotent-Replayed: true</c>)
/// and runs nothing; the same key with another request is a 422; a retry while the first still runs waits for it, then
/// answers 409. Requests that are not a tenant user's (sign-in, refresh, the platform key) ignore the header.
/// </summary>
internal sealed class IdempotencyKeys(RequestDelegate next, IdempotencyStore store, IDataProtectionProvider protection,
    IOptions<DmsOptions> options, TimeProvider clock, ILogger<IdempotencyKeys> logger)
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public const int MaxKeyLength = 255;

    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestPoll = TimeSpan.FromSeconds(1);

    private readonly IDataProtector _protector = protection.CreateProtector("Dms.Idempotency.Responses.v1");

    private IdempotencyOptions Settings => options.Value.Idempotency;

    public async Task InvokeAsync(HttpContext context)
    {
        if (!Applies(context, out var user))
        {
            await next(context);
            return;
        }
        var values = context.Request.Headers[Header];
        if (values.Count != 1 || !IsValidKey(values[0]))
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "idempotency.invalid_key", "The Idempotency-Key header is not valid.",
                $"Send one Idempotency-Key of 1 to {MaxKeyLength} printable ASCII characters (a UUID is a good choice).");
        }
        var scope = new KeyScope(user.TenantId, user.UserId, values[0]!);
        var owner = Guid.CreateVersion7();
        var ct = context.RequestAborted;
        var deadline = clock.GetUtcNow() + Settings.WaitForInProgress;
        var poll = FirstPoll;
        try
        {
            while (true)
            {
                switch (await store.ClaimAsync(scope, owner, ct))
                {
                    case KeyClaim.Owned:
                        await RunAsync(context, scope, owner);
                        return;
                    case KeyClaim.Finished finished:
                        await ReplayAsync(context, finished);
                        return;
                    case KeyClaim.Running when clock.GetUtcNow() >= deadline:
                        IdempotencyMetrics.Count("in_progress");
                        throw new ApiProblem(StatusCodes.Status409Conflict, "idempotency.in_progress",
                            "A request with this Idempotency-Key is still running.", "Retry with the same key shortly to get its answer.")
                        {
                            Headers = new Dictionary<string, string> { ["Retry-After"] = "1" },
                        };
                    default:
                        await store.WaitAsync(scope, poll, ct);
                        poll = TimeSpan.FromTicks(Math.Min(poll.Ticks * 2, LongestPoll.Ticks));
                        break;
                }
            }
        }
        finally
        {
            if (poll != FirstPoll)
            {
                // A holder on another node never settles this node's waiters: drop what the wait left (others re-poll).
                store.Settle(scope);
            }
        }
    }

    /// <summary>A POST or PATCH of the API, by a tenant user (JWT or personal token), carrying the header.</summary>
    private static bool Applies(HttpContext context, out CurrentUser user)
    {
        user = null!;
        var request = context.Request;
        if (!(HttpMethods.IsPost(request.Method) || HttpMethods.IsPatch(request.Method)) ||
            !request.Path.StartsWithSegments("/api/v1", StringComparison.OrdinalIgnoreCase) ||
            !request.Headers.ContainsKey(Header) ||
            context.User.Identity?.IsAuthenticated != true ||
            !Guid.TryParse(context.User.FindFirst(DmsClaims.Subject)?.Value, out _) ||
            !Guid.TryParse(context.User.FindFirst(DmsClaims.Tenant)?.Value, out _))
        {
            return false;
        }
        user = CurrentUser.From(context.User);
        return true;
    }

    internal static bool IsValidKey(string? key) =>
        key is { Length: > 0 and <= MaxKeyLength } && key.All(ch => ch is >= ' ' and <= '~') && key.Trim().Length == key.Length;

    private async Task RunAsync(HttpContext context, KeyScope scope, Guid owner)
    {
        var request = context.Request;
        var response = context.Response;
        using var fingerprint = RequestFingerprint.Start(request);
        var originalRequestBody = request.Body;
        var originalResponseBody = response.Body;
        var body = new FingerprintingStream(originalRequestBody, fingerprint);
        var capture = new CapturingStream(originalResponseBody, Settings.MaxStoredResponseBytes);
        request.Body = body;
        response.Body = capture;
        using var renewal = new CancellationTokenSource();
        var renewing = RenewWhileRunningAsync(scope, owner, renewal.Token);
        var stored = false;
        try
        {
            await next(context);
            // Not the request's token: a client that went away after the effect must still find the answer kept.
            await response.BodyWriter.FlushAsync(CancellationToken.None);
            if (response.StatusCode < StatusCodes.Status500InternalServerError)
            {
                // The handler may have answered before reading everything (a 4xx): the fingerprint covers the whole body.
                if (!await DrainedAsync(body, context.RequestAborted))
                {
                    return;
                }
                var answer = capture.Captured is { } bytes ? _protector.Protect(StoredResponse.From(response, bytes).Serialize()) : null;
                // Not the request's token: the effect happened, so its answer is kept even when the client has gone.
                stored = await store.CompleteAsync(scope, owner, fingerprint.Finish(), response.StatusCode, answer, CancellationToken.None);
                if (!stored)
                {
                    logger.LogWarning("An idempotency key's claim was lost while its request ran (it outlived its lease); its answer is not kept");
                }
            }
        }
        finally
        {
            request.Body = originalRequestBody;
            response.Body = originalResponseBody;
            await renewal.CancelAsync();
            await renewing;
            if (!stored)
            {
                await ReleaseQuietlyAsync(scope, owner);
            }
            IdempotencyMetrics.Count(stored ? "stored" : "released");
        }
    }

    /// <summary>False when the rest of the body cannot be read (cut short, over its limit): the answer already went out, so the key is just released.</summary>
    private async Task<bool> DrainedAsync(FingerprintingStream body, CancellationToken ct)
    {
        try
        {
            await body.DrainAsync(ct);
            return true;
        }
        catch (Exception ex) when (ex is IOException or BadHttpRequestException or OperationCanceledException)
        {
            logger.LogInformation("The rest of a request body with an Idempotency-Key could not be read ({Error}); its answer is not kept", ex.GetType().Name);
            return false;
        }
    }

    private async Task RenewWhileRunningAsync(KeyScope scope, Guid owner, CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(Settings.Lease / 3, clock);
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (!await store.RenewAsync(scope, owner, ct))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // The lease then runs out, and a retry may run the request again: the documented trade-off.
            logger.LogWarning(ex, "Could not renew an idempotency key's lease");
        }
    }

    private async Task ReleaseQuietlyAsync(KeyScope scope, Guid owner)
    {
        try
        {
            await store.ReleaseAsync(scope, owner, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // The request's own outcome (its exception or answer) matters more; the key frees itself when its lease runs out.
            logger.LogWarning(ex, "Could not release an idempotency key; it frees itself when its lease runs out");
        }
    }

    private async Task ReplayAsync(HttpContext context, KeyClaim.Finished finished)
    {
        // The retry's body is hashed the same way (streamed, never kept). An upload may be as large as uploads may be.
        if (IsMultipart(context.Request) && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = options.Value.Uploads.MaxBytes + 1024 * 1024;
        }
        using var fingerprint = RequestFingerprint.Start(context.Request);
        await new FingerprintingStream(context.Request.Body, fingerprint).DrainAsync(context.RequestAborted);
        if (!CryptographicOperations.FixedTimeEquals(fingerprint.Finish(), finished.Fingerprint))
        {
            IdempotencyMetrics.Count("key_reused");
            throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "idempotency.key_reused",
                "This Idempotency-Key was used for a different request.",
                "A key stands for one request (method, path, query, body): use a new key for a new request.");
        }
        if (finished.Response is null)
        {
            throw ResponseUnavailable(finished.Status, "its answer was too large to keep");
        }
        StoredResponse answer;
        try
        {
            answer = StoredResponse.Deserialize(finished.Status, _protector.Unprotect(finished.Response));
        }
        catch (CryptographicException ex)
        {
            // The key ring is not shared by every node (Dms__Ui__KeysDirectory), or it lost the key: an operator's problem.
            logger.LogError(ex, "A stored idempotent answer could not be decrypted: do all nodes share the data-protection key ring?");
            throw ResponseUnavailable(finished.Status, "its answer cannot be read on this server");
        }
        IdempotencyMetrics.Count("replayed");
        Activity.Current?.SetTag("dms.idempotency.replayed", true);
        await answer.WriteAsync(context.Response, context.RequestAborted);
    }

    private static ApiProblem ResponseUnavailable(int status, string why) =>
        new(StatusCodes.Status409Conflict, "idempotency.response_unavailable",
            "The request with this Idempotency-Key already ran, but its answer cannot be replayed.",
            $"It was answered with status {status}; {why}. Do not send it again: read the resource instead.");

    private static bool IsMultipart(HttpRequest request) =>
        request.ContentType?.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase) == true;
}
