using Dms.Platform.Http;

namespace Dms.Platform.Database;

/// <summary>The write freeze of a tenant move (ADR 0036): its lock key and the answer a refused write gets.</summary>
internal static class TenantMoving
{
    /// <summary>The advisory lock class of tenant move locks (the two-key form, so it never meets the one-key locks).</summary>
    public const int LockClass = 0x0D05_0036;

    /// <summary>How long a client waits before retrying a write refused during a freeze (a freeze lasts seconds).</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>
    /// The tenant's key within <see cref="LockClass"/>: 32 bits of its id (the two-key form has no room for more). Two
    /// tenants may share a key (among 10,000 tenants, some pair does with a chance of about 1%): then a move's exclusive
    /// lock also waits for the other tenant's writers, and the other tenant's writes are refused with 503
    /// <c>tenant.moving</c> while the move holds it (writers try the lock, Db.EnterTenantForWriteAsync), that is for that
    /// move's freeze only (seconds; clients retry). Its data never moves and its state stays Home.
    /// </summary>
    public static int LockKey(Guid tenant)
    {
        Span<byte> bytes = stackalloc byte[16];
        tenant.TryWriteBytes(bytes);
        return BitConverter.ToInt32(bytes[..4]) ^ BitConverter.ToInt32(bytes[4..8]) ^ BitConverter.ToInt32(bytes[8..12]) ^ BitConverter.ToInt32(bytes[12..]);
    }

    public static ApiProblem Problem() => new(StatusCodes.Status503ServiceUnavailable, "tenant.moving",
        "This tenant is being moved to another database; writes resume in a few seconds.")
    {
        Headers = new Dictionary<string, string> { ["Retry-After"] = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) },
    };

    public static bool IsProblem(Exception ex) => ex is ApiProblem { Code: "tenant.moving" };
}
