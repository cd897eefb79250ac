using System.Text.Json;
using Dms.Tests.Infrastructure;

namespace Dms.Tests.Audit;

/// <summary>
/// Events are recorded pending and chained shortly after (ADR 0038): tests that read seq or hash, or tamper with chained
/// events, first wait until the tenant's tail is chained (verify reports no unchained events).
/// </summary>
internal static class AuditChainWait
{
    public static async Task<JsonElement> ChainedAsync(HttpClient admin, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var verify = await (await admin.GetAsync("/api/v1/audit/verify")).JsonAsync();
            if (verify.GetProperty("unchained").GetInt64() == 0)
            {
                return verify;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The audit tail was not chained in time: {verify}");
            }
            await Task.Delay(50);
        }
    }

    public static Task<JsonElement> ChainedAsync(TestTenant tenant, TimeSpan? timeout = null) => ChainedAsync(tenant.Admin.Client, timeout);
}
