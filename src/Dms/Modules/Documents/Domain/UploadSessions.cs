using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Observability;
using Npgsql;

namespace Dms.Modules.Documents.Domain;

/// <summary>Where an upload session's bytes come from, stored by name in <c>upload_sessions.kind</c>.</summary>
internal enum UploadSessionKind
{
    /// <summary>The client PUTs the bytes to a signed URL, then completes the session.</summary>
    Direct,

    /// <summary>A multipart request streams the bytes through the API; the session only registers the blob key meanwhile.</summary>
    Stream,
}

/// <summary>An upload session's state, stored by name in <c>upload_sessions.status</c> (migrations 0002 and 0009).</summary>
internal enum UploadSessionStatus
{
    /// <summary>Bytes may arrive; the blob key counts as referenced.</summary>
    Pending,

    /// <summary>A completion holds the claim and is checking the bytes (with a lease, so a dead node's claim lapses).</summary>
    Verifying,

    /// <summary>The bytes became a version (or a replace request's staged content).</summary>
    Completed,

    /// <summary>The client gave up.</summary>
    Aborted,

    /// <summary>Nobody completed it in time.</summary>
    Expired,

    /// <summary>The bytes were refused or the request that carried them failed.</summary>
    Failed,
}

/// <summary>The upload session state machine: every allowed move in one place.</summary>
internal static class UploadSessionStates
{
    private static readonly Dictionary<UploadSessionStatus, UploadSessionStatus[]> Next = new()
    {
        [UploadSessionStatus.Pending] = [UploadSessionStatus.Verifying, UploadSessionStatus.Completed, UploadSessionStatus.Aborted,
            UploadSessionStatus.Expired, UploadSessionStatus.Failed],
        // A verdict, or the claim given back (or lapsed) without one.
        [UploadSessionStatus.Verifying] = [UploadSessionStatus.Completed, UploadSessionStatus.Failed, UploadSessionStatus.Pending],
        [UploadSessionStatus.Completed] = [],
        [UploadSessionStatus.Aborted] = [],
        [UploadSessionStatus.Expired] = [],
        [UploadSessionStatus.Failed] = [],
    };

    /// <summary>States in which the session's blob keys are still referenced (bytes may still arrive or are being checked).</summary>
    public static readonly UploadSessionStatus[] Open = [UploadSessionStatus.Pending, UploadSessionStatus.Verifying];

    /// <summary>Ended without their bytes becoming anything: what they left is removed.</summary>
    public static readonly UploadSessionStatus[] Discarded = [UploadSessionStatus.Aborted, UploadSessionStatus.Expired, UploadSessionStatus.Failed];

    public static bool CanMove(UploadSessionStatus from, UploadSessionStatus to) => Next[from].Contains(to);
}

/// <summary>One row of <c>upload_sessions</c>.</summary>
internal sealed class UploadSessionRow
{
    public Guid Id { get; init; }
    public Guid CreatedBy { get; init; }
    public UploadSessionKind Kind { get; init; }
    public UploadSessionStatus Status { get; init; }
    public string FileName { get; init; } = "";
    public long? DeclaredSize { get; init; }
    public string? DeclaredSha256 { get; init; }
    public string StagingKey { get; init; } = "";
    public string FinalKey { get; init; } = "";
    public Guid DocumentId { get; init; }
    public Guid VersionId { get; init; }
    public string? MultipartUploadId { get; init; }
    public long? PartSize { get; init; }
    public int? PartCount { get; init; }
    public string? FailureCode { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime ExpiresAt { get; init; }
    public Guid? ClaimId { get; init; }

    /// <summary>The document type a direct upload goes into (given at creation), and its field values as checked then.</summary>
    public Guid? TypeId { get; init; }
    public string? Fields { get; init; }
}

/// <summary>The SQL of <c>upload_sessions</c>; every status change goes through here.</summary>
internal static class UploadSessions
{
    public const string Columns = """
        id, created_by, kind, status, file_name, declared_size, declared_sha256, staging_key, final_key, document_id, version_id,
        multipart_upload_id, part_size, part_count, failure_code, created_at, expires_at, claim_id, type_id, fields::text AS fields
        """;

    /// <summary>A completion verifies the bytes outside transactions; the claim's lease bounds how long a dead node can hold it.</summary>
    public static readonly TimeSpan ClaimLease = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Marks a session finished; the conditional update makes the first finisher the only one. With
    /// <paramref name="claimId"/> only the holder of that verification claim can finish it; without, only a Pending session finishes.
    /// </summary>
    public static Task<int> FinishAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, UploadSessionStatus status, string? failureCode, bool cleaned,
        CancellationToken ct, Guid? claimId = null)
    {
        if (!UploadSessionStates.CanMove(claimId is null ? UploadSessionStatus.Pending : UploadSessionStatus.Verifying, status))
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "Not a state a session finishes in.");
        }
        return c.ExecuteAsync(new CommandDefinition($"""
            UPDATE upload_sessions
            SET status = @status, failure_code = @failureCode, finished_at = now(), cleaned_at = CASE WHEN @cleaned THEN now() END,
                claim_id = NULL, claimed_until = NULL
            WHERE tenant_id = @tenant AND id = @id
              AND CASE WHEN @claimId::uuid IS NULL THEN status = {UploadSessionStatus.Pending.Sql()}
                       ELSE status = {UploadSessionStatus.Verifying.Sql()} AND claim_id = @claimId END
            """, new { tenant, id, status = status.Db(), failureCode, cleaned, claimId }, tx, cancellationToken: ct));
    }

    /// <summary>Pending → Verifying under a new claim, with a lease; 0 when the session is not Pending (any more).</summary>
    public static Task<int> ClaimAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, Guid claimId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition($"""
            UPDATE upload_sessions SET status = {UploadSessionStatus.Verifying.Sql()}, claim_id = @claimId, claimed_until = now() + @lease
            WHERE tenant_id = @tenant AND id = @id AND status = {UploadSessionStatus.Pending.Sql()}
            """, new { tenant, id, claimId, lease = ClaimLease }, tx, cancellationToken: ct));

    /// <summary>Gives a claim back (the verification stopped without a verdict): the session is Pending again and can be completed.</summary>
    public static Task<int> ReleaseAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, Guid claimId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition($"""
            UPDATE upload_sessions SET status = {UploadSessionStatus.Pending.Sql()}, claim_id = NULL, claimed_until = NULL
            WHERE tenant_id = @tenant AND id = @id AND status = {UploadSessionStatus.Verifying.Sql()} AND claim_id = @claimId
            """, new { tenant, id, claimId }, tx, cancellationToken: ct));

    /// <summary>Claims whose lease ran out (their node died mid-verification) are given back: the sessions are Pending again.</summary>
    public static Task<int> ReleaseLapsedClaimsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition($"""
            UPDATE upload_sessions SET status = {UploadSessionStatus.Pending.Sql()}, claim_id = NULL, claimed_until = NULL
            WHERE tenant_id = @tenant AND status = {UploadSessionStatus.Verifying.Sql()} AND claimed_until < now()
            """, new { tenant }, tx, cancellationToken: ct));

    /// <summary>Pending sessions whose time is up end Expired; a verifying completion is not expired under its feet.</summary>
    public static async Task<int> ExpireAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct)
    {
        var expired = await c.ExecuteAsync(new CommandDefinition($"""
            UPDATE upload_sessions SET status = {UploadSessionStatus.Expired.Sql()}, finished_at = now()
            WHERE tenant_id = @tenant AND status = {UploadSessionStatus.Pending.Sql()} AND expires_at < now()
            """, new { tenant }, tx, cancellationToken: ct));
        DmsTelemetry.UploadSessions.Add(expired, new KeyValuePair<string, object?>("outcome", "expired"));
        return expired;
    }

    /// <summary>What a session left in storage has been removed.</summary>
    public static Task<int> MarkCleanedAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition(
            "UPDATE upload_sessions SET cleaned_at = now() WHERE tenant_id = @tenant AND id = @id",
            new { tenant, id }, tx, cancellationToken: ct));
}
