using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dms.Modules.Billing.Subscriptions;
using Dms.Tests.Infrastructure;
using Dms.Tests.Sharing;
using Shouldly;

namespace Dms.Tests.Billing;

/// <summary>
/// An app of its own with the billing webhook's secret set (the shared app has none: there the webhook answers 404), and
/// helpers to sign and deliver provider events and to read a tenant's subscription.
/// </summary>
internal static class BillingSupport
{
    public const string Secret = "whsec-test-secret-0123456789";

    private static readonly Lazy<Task<DmsApp>> Shared = new(() => DmsApp.CreateIsolatedAsync("billing", new Dictionary<string, string>
    {
        ["Dms:Billing:WebhookSecret"] = Secret,
    }));

    public static Task<DmsApp> AppAsync() => Shared.Value;

    /// <summary>A tenant of its own on the billing app, on a plan (so it has a subscription, trialing).</summary>
    public static async Task<TestTenant> TenantOnPlanAsync(int? seats = null, long? storageBytes = null, IReadOnlyDictionary<string, bool>? features = null)
    {
        var app = await AppAsync();
        var tenant = await app.CreateTenantAsync();
        await app.GivePlanAsync(tenant, seats: seats, storageBytes: storageBytes, features: features);
        return tenant;
    }

    public static string Body(string id, string type, DateTimeOffset created, string tenant, long? currentPeriodEnd = null) =>
        JsonSerializer.Serialize(new { id, type, created = created.ToUnixTimeSeconds(), data = new { tenant, currentPeriodEnd } });

    public static string Sign(string body, long timestamp, string secret = Secret) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp.ToString(CultureInfo.InvariantCulture)}.{body}")));

    public static string Header(string body, DateTimeOffset? at = null, string secret = Secret)
    {
        var t = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds();
        return $"t={t},v1={Sign(body, t, secret)}";
    }

    public static async Task<HttpResponseMessage> PostAsync(DmsApp app, string body, string? signature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/billing/webhook") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (signature is not null)
        {
            request.Headers.TryAddWithoutValidation("Billing-Signature", signature);
        }
        using var client = app.CreateClient();
        return await client.SendAsync(request);
    }

    /// <summary>Delivers a correctly signed event and expects 200; returns the answer.</summary>
    public static async Task<JsonElement> DeliverAsync(TestTenant tenant, string type, DateTimeOffset created, string? id = null)
    {
        var body = Body(id ?? $"evt_{Guid.NewGuid():N}", type, created, tenant.Slug);
        using var response = await PostAsync(tenant.App, body, Header(body));
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    public static async Task<JsonElement> UsageAsync(SignedIn who)
    {
        using var response = await who.Client.GetAsync("/api/v1/tenant/usage");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    public static async Task<string?> StatusAsync(TestTenant tenant)
    {
        var usage = await UsageAsync(tenant.Admin);
        var subscription = usage.GetProperty("subscription");
        return subscription.ValueKind == JsonValueKind.Null ? null : subscription.GetProperty("status").GetString();
    }

    public static Task<long> AuditCountAsync(TestTenant tenant, string action) =>
        ShareLinkTests.OwnerScalarAsync<long>(tenant.App, tenant.Id, "SELECT count(*) FROM audit_events WHERE tenant_id = @t AND action = @a", ("t", tenant.Id), ("a", action));

    /// <summary>Changes the stored subscription as the schema owner (a date moved into the past), and makes the app forget its cached state.</summary>
    public static async Task SetSubscriptionAsync(TestTenant tenant, string assignments)
    {
        await ShareLinkTests.OwnerExecuteAsync(tenant.App, tenant.Id, $"UPDATE tenant_subscriptions SET {assignments} WHERE tenant_id = @t", ("t", tenant.Id));
        tenant.App.Service<SubscriptionCache>().Forget(tenant.Id);
    }

    public static async Task<Guid> UploadAsync(SignedIn who, HttpStatusCode expected = HttpStatusCode.Created, string? code = null)
    {
        using var response = await who.Client.PostAsync("/api/v1/documents", Uploads.Form($"b-{Guid.NewGuid():N}.txt", Uploads.Text($"billing {Guid.NewGuid()}")));
        if (expected != HttpStatusCode.Created)
        {
            await response.ShouldBeProblemAsync(expected, code);
            return Guid.Empty;
        }
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    public static Task<HttpResponseMessage> PostJsonAsync(SignedIn who, string url, object body) => who.Client.PostAsJsonAsync(url, body);
}
