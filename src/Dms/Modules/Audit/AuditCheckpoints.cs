using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Audit;

/// <summary>
/// A tenant's chain head at one moment, signed with a key the database never sees and stored in the blob store
/// (<c>{tenant}/audit-checkpoints/{seq}</c>): whoever can rewrite the database cannot make the chain agree
/// with it again (ADR 0012).
/// </summary>
internal sealed record AuditCheckpoint(int Version, Guid Tenant, long Sequence, string Hash, string At, string KeyId, string Signature)
{
    public const int CurrentVersion = 1;

    /// <summary>Every signed field, in one unambiguous line each; <see cref="At"/> is signed exactly as stored.</summary>
    public string SignedText() => string.Join('\n', "dms-audit-checkpoint", Version.ToString(CultureInfo.InvariantCulture), Tenant.ToString("D"),
        Sequence.ToString(CultureInfo.InvariantCulture), Hash, At);
}

/// <summary>
/// The checkpoint HMAC key: <c>Dms__Audit__CheckpointKey</c>, or a random key generated once into
/// <c>{DataDirectory}/audit-checkpoint-key</c> (every node must share it, like the token signing key).
/// Older keys in <c>Dms__Audit__PreviousCheckpointKeys</c> still verify what they signed.
/// </summary>
internal sealed class AuditCheckpointKey
{
    private readonly byte[] _current;
    private readonly Dictionary<string, byte[]> _all = new(StringComparer.Ordinal);

    public AuditCheckpointKey(IOptions<DmsOptions> options)
    {
        var audit = options.Value.Audit;
        var text = string.IsNullOrWhiteSpace(audit.CheckpointKey)
            ? LoadOrCreate(Path.Combine(options.Value.DataDirectoryFullPath, "audit-checkpoint-key"))
            : audit.CheckpointKey;
        _current = Bytes(text, "Dms__Audit__CheckpointKey");
        CurrentId = IdOf(_current);
        foreach (var previous in audit.PreviousCheckpointKeys.Where(k => !string.IsNullOrWhiteSpace(k)))
        {
            var bytes = Bytes(previous, "Dms__Audit__PreviousCheckpointKeys");
            _all.TryAdd(IdOf(bytes), bytes);
        }
        _all[CurrentId] = _current;
    }

    /// <summary>Names the key without revealing it, so a checkpoint says which key signed it.</summary>
    public string CurrentId { get; }

    public string Sign(AuditCheckpoint unsigned) => Convert.ToBase64String(HMACSHA256.HashData(_current, Encoding.UTF8.GetBytes(unsigned.SignedText())));

    public bool Verifies(AuditCheckpoint checkpoint)
    {
        if (!_all.TryGetValue(checkpoint.KeyId, out var key))
        {
            return false;
        }
        byte[] given;
        try
        {
            given = Convert.FromBase64String(checkpoint.Signature);
        }
        catch (FormatException)
        {
            return false;
        }
        var expected = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(checkpoint.SignedText()));
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }

    private static byte[] Bytes(string text, string setting)
    {
        var bytes = Encoding.UTF8.GetBytes(text.Trim());
        return bytes.Length >= 32 ? bytes : throw new StartupException($"{setting} must be at least 32 bytes long.");
    }

    private static string IdOf(byte[] key) => Convert.ToHexStringLower(SHA256.HashData(key))[..16];

    private static string LoadOrCreate(string path)
    {
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temp = $"{path}.{Guid.NewGuid():N}";
            File.WriteAllText(temp, Convert.ToBase64String(RandomNumberGenerator.GetBytes(48)));
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            try
            {
                // Two processes starting together: the first rename wins, and both use what is on disk.
                File.Move(temp, path, overwrite: false);
            }
            catch (IOException)
            {
                File.Delete(temp);
            }
        }
        return File.ReadAllText(path).Trim();
    }
}

/// <summary>The newest checkpoint in the store, or what is wrong with it.</summary>
internal sealed record StoredCheckpoint(long KeySequence, AuditCheckpoint? Checkpoint, bool SignatureValid)
{
    /// <summary>Signed by a known key, for this tenant, and stored under its own sequence: nothing else is trusted.</summary>
    public bool IsTrusted(Guid tenant) => Checkpoint is { } c && SignatureValid && c.Tenant == tenant && c.Sequence == KeySequence;
}

/// <summary>
/// Writes a signed checkpoint of each tenant's chain head when it moved, and reads the newest one back. A new
/// checkpoint is written only after the events since the previous one were checked to continue it, so the
/// newest checkpoint vouches for the whole chain up to it, and a tampered chain is never re-anchored.
/// </summary>
internal sealed class AuditCheckpoints(Db db, IBlobStore blobs, AuditCheckpointKey key, TimeProvider clock,
    ILogger<AuditCheckpoints> logger)
{
    internal const long AdvisoryLockKey = 0x0D05_0012;

    /// <summary>Whether the pass under way found every chain continuing its checkpoint (one pass at a time per node).</summary>
    private bool _intact = true;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>One pass over every tenant, on one node at a time; returns how many checkpoints were written.</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        var written = 0;
        _intact = true;
        var ran = await db.ForEachTenantUnderLockAsync(AdvisoryLockKey, async (tenant, token) =>
            written += await CheckpointAsync(tenant, token) is not null ? 1 : 0, ct);
        if (ran is not null)
        {
            Platform.Observability.AuditHealth.PassCompleted(_intact);
        }
        return written;
    }

    /// <summary>Signs and stores the tenant's head if it moved past the newest checkpoint and continues it; null otherwise.</summary>
    public async Task<AuditCheckpoint?> CheckpointAsync(Guid tenant, CancellationToken ct)
    {
        var latest = await LatestAsync(tenant, ct);
        if (latest is not null && !latest.IsTrusted(tenant))
        {
            logger.LogError("Audit checkpoint {Sequence} of tenant {TenantId} does not verify (forged, or signed with an unknown key); no new checkpoint is written until it is investigated",
                latest.KeySequence, tenant);
            _intact = false;
            return null;
        }
        var from = latest?.Checkpoint;
        var head = await db.InTenantAsync(tenant, async (c, tx) =>
        {
            var row = await c.QuerySingleOrDefaultAsync<(long LastSeq, string LastHash)?>(new CommandDefinition(
                "SELECT last_seq, last_hash FROM audit_heads WHERE tenant_id = @tenant", new { tenant }, tx, cancellationToken: ct));
            if (row is not { LastSeq: > 0 } h || h.LastSeq <= (from?.Sequence ?? 0))
            {
                if (row is { } r && from is not null && r.LastSeq < from.Sequence)
                {
                    logger.LogError("The audit chain of tenant {TenantId} ends at {Sequence}, before its checkpoint {Checkpoint}: events were removed", tenant, r.LastSeq, from.Sequence);
                    _intact = false;
                }
                return null;
            }
            return await ContinuesAsync(c, tx, tenant, from, h, ct) ? h : ((long LastSeq, string LastHash)?)null;
        }, ct);
        if (head is not { } moved)
        {
            return null;
        }
        var unsigned = new AuditCheckpoint(AuditCheckpoint.CurrentVersion, tenant, moved.LastSeq, moved.LastHash,
            clock.GetUtcNow().UtcDateTime.ToString("O", CultureInfo.InvariantCulture), key.CurrentId, "");
        var checkpoint = unsigned with { Signature = key.Sign(unsigned) };
        await using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(checkpoint, Json));
        await blobs.PutAsync(BlobKeys.ForAuditCheckpoint(tenant, checkpoint.Sequence), content, ct);
        return checkpoint;
    }

    /// <summary>
    /// The events after <paramref name="from"/> (all of them when there is none) link up to the head, and the
    /// event at the checkpoint still has the checkpoint's hash.
    /// </summary>
    private async Task<bool> ContinuesAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, AuditCheckpoint? from, (long LastSeq, string LastHash) head, CancellationToken ct)
    {
        var start = from?.Sequence ?? 1;
        await using var reader = await c.ExecuteReaderAsync(new CommandDefinition("""
            SELECT e.seq, e.prev_hash, e.hash, audit_link(e.prev_hash, e) AS recomputed
            FROM audit_events e WHERE e.tenant_id = @tenant AND e.seq >= @start AND e.seq <= @end ORDER BY e.seq
            """, new { tenant, start, end = head.LastSeq }, tx, cancellationToken: ct));
        var expectedSeq = start;
        string? previous = from is null ? new string('0', 64) : null;
        while (await reader.ReadAsync(ct))
        {
            var (seq, prev, hash, recomputed) = (reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3));
            var ok = seq == expectedSeq && hash == recomputed && (previous is null || prev == previous)
                && (from is null || seq != from.Sequence || hash == from.Hash);
            if (!ok)
            {
                logger.LogError("The audit chain of tenant {TenantId} does not continue its last checkpoint at event {Sequence}; no new checkpoint is written", tenant, seq);
                _intact = false;
                return false;
            }
            previous = hash;
            expectedSeq++;
        }
        var complete = expectedSeq == head.LastSeq + 1 && previous == head.LastHash;
        if (!complete)
        {
            logger.LogError("The audit chain of tenant {TenantId} does not reach its head {Sequence}; no new checkpoint is written", tenant, head.LastSeq);
            _intact = false;
        }
        return complete;
    }

    /// <summary>The checkpoint with the highest sequence in the store; null when the tenant has none yet.</summary>
    public async Task<StoredCheckpoint?> LatestAsync(Guid tenant, CancellationToken ct)
    {
        var prefix = BlobKeys.AuditCheckpointPrefix(tenant);
        long? newest = null;
        await foreach (var blob in blobs.ListAsync(prefix, ct))
        {
            if (blob.Key.StartsWith(prefix, StringComparison.Ordinal)
                && long.TryParse(blob.Key.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && seq > (newest ?? 0))
            {
                newest = seq;
            }
        }
        if (newest is not { } sequence)
        {
            return null;
        }
        await using var stream = await blobs.OpenReadAsync(BlobKeys.ForAuditCheckpoint(tenant, sequence), 0, null, ct);
        if (stream is null)
        {
            return new StoredCheckpoint(sequence, null, false);
        }
        AuditCheckpoint? checkpoint;
        try
        {
            checkpoint = await JsonSerializer.DeserializeAsync<AuditCheckpoint>(stream, Json, ct);
        }
        catch (JsonException)
        {
            checkpoint = null;
        }
        var valid = checkpoint is { Version: AuditCheckpoint.CurrentVersion, Hash: not null, At: not null, KeyId: not null, Signature: not null }
            && key.Verifies(checkpoint);
        return new StoredCheckpoint(sequence, checkpoint, valid);
    }
}

/// <summary>Runs <see cref="AuditCheckpoints"/> every <c>Dms__Audit__CheckpointInterval</c> on worker nodes.</summary>
internal sealed class AuditCheckpointService(AuditCheckpoints checkpoints, IOptions<DmsOptions> options, ILogger<AuditCheckpointService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Audit.CheckpointInterval);
        do
        {
            try
            {
                await checkpoints.RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Storage or database down: the chain is still verifiable; the next pass anchors what was missed.
                logger.LogWarning(ex, "Audit checkpoint pass failed; retrying at the next interval");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
