using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Xml.Linq;
using Dms.Tests.Infrastructure;
using Dms.Tests.Process;
using Xunit;

namespace Dms.Tests.Approvals;

/// <summary>
/// The approval suite's tenant in the shared local cluster (<see cref="LocalClusterFixture"/>): every request goes
/// through nginx to one of two API nodes, the worker executes; storage is the cluster's S3 emulator.
/// </summary>
public sealed class ClusterApprovalFixture(LocalClusterFixture cluster) : ApprovalSuiteFixture
{
    internal LocalClusterFixture Cluster => cluster;

    internal override string OwnerConnectionString => cluster.OwnerConnectionString;

    private protected override async Task<(Guid Id, string Slug, SignedIn Admin)> CreateTenantAsync()
    {
        var slug = $"c-{Guid.NewGuid():N}"[..20];
        var password = $"pw-{Guid.NewGuid():N}";
        using var platform = new HttpClient { BaseAddress = cluster.Lb };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/platform/tenants")
        {
            Content = JsonContent.Create(new { slug, name = $"Tenant {slug}", adminEmail = "admin@example.test", adminPassword = password }),
        };
        request.Headers.Add("X-Platform-Key", cluster.PlatformKey);
        using var response = await platform.SendAsync(request);
        await response.ShouldHaveStatusAsync(System.Net.HttpStatusCode.Created);
        var id = (await response.JsonAsync()).GetProperty("id").GetGuid();
        return (id, slug, await SignInAsync("admin@example.test", password, slug));
    }

    internal override Task<SignedIn> SignInAsync(string email, string password) => SignInAsync(email, password, Slug);

    private async Task<SignedIn> SignInAsync(string email, string password, string slug)
    {
        // 100 s: 500 parallel requests through one load balancer on a loaded machine queue for a while.
        var http = new HttpClient { BaseAddress = cluster.Lb, Timeout = TimeSpan.FromSeconds(100) };
        using var response = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = slug, email, password });
        await response.ShouldHaveStatusAsync(System.Net.HttpStatusCode.OK);
        var tokens = (await response.Content.ReadFromJsonAsync<Tokens>())!;
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens.AccessToken);
        return new SignedIn(http, tokens, email, password);
    }

    internal override async Task<HttpResponseMessage> SendToUrlAsync(HttpMethod method, Uri url, HttpContent? content = null)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(method, url) { Content = content };
        return await http.SendAsync(request);
    }

    /// <summary>Lists the bucket on the S3 emulator (moto answers unsigned requests).</summary>
    internal override async Task<int> CountBlobsAsync(string prefix)
    {
        using var http = new HttpClient { BaseAddress = cluster.S3 };
        var xml = XDocument.Parse(await http.GetStringAsync($"/dms?list-type=2&max-keys=1000&prefix={Uri.EscapeDataString(prefix)}"));
        return xml.Descendants().Count(e => e.Name.LocalName == "Contents");
    }
}

/// <summary>The approval suite through the local cluster's load balancer (issue 14: "the approval suite passes").</summary>
[Collection(LocalClusterFixture.Collection)]
public sealed class ClusterApprovalTests(ClusterApprovalFixture fixture) : ApprovalSuite<ClusterApprovalFixture>(fixture), IClassFixture<ClusterApprovalFixture>;

/// <summary>The 500-parallel-request tests through the load balancer: the requests race on two API nodes, not one.</summary>
[Collection(LocalClusterFixture.Collection)]
public sealed class ClusterApprovalConcurrencyTests(ClusterApprovalFixture fixture)
    : ApprovalConcurrencySuite<ClusterApprovalFixture>(fixture), IClassFixture<ClusterApprovalFixture>;
