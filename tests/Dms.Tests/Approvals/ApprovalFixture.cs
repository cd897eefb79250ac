using Dms.Platform.Storage;
using Dms.Tests.Infrastructure;

namespace Dms.Tests.Approvals;

/// <summary>The approval suite's tenant in the shared in-process app (<see cref="DmsApp"/>), with its services at hand.</summary>
public sealed class ApprovalFixture : ApprovalSuiteFixture
{
    internal TestTenant Tenant { get; private set; } = null!;

    internal override string OwnerConnectionString => Tenant.App.OwnerConnectionString;

    private protected override async Task<(Guid Id, string Slug, SignedIn Admin)> CreateTenantAsync()
    {
        Tenant = await (await DmsApp.GetAsync()).CreateTenantAsync();
        return (Tenant.Id, Tenant.Slug, Tenant.Admin);
    }

    internal override Task<SignedIn> SignInAsync(string email, string password) => Tenant.SignInAsync(email, password);

    internal override Task<HttpResponseMessage> SendToUrlAsync(HttpMethod method, Uri url, HttpContent? content = null) =>
        Tenant.App.SendToUrlAsync(method, url, content);

    internal override async Task<int> CountBlobsAsync(string prefix)
    {
        var count = 0;
        await foreach (var _ in Tenant.App.Service<IBlobStore>().ListAsync(prefix, CancellationToken.None))
        {
            count++;
        }
        return count;
    }
}
