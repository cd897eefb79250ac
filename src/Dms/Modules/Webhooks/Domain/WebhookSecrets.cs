using Microsoft.AspNetCore.DataProtection;

namespace Dms.Modules.Webhooks.Domain;

/// <summary>
/// Endpoint secrets at rest: they must be usable for signing, so they cannot be hashed. They are encrypted with ASP.NET
/// Core Data Protection, whose key ring every node already shares (the UI's cookies need it: Dms__Ui__KeysDirectory,
/// or the shared data directory), so a database dump alone does not give them away (ADR 0023).
/// </summary>
internal sealed class WebhookSecrets(IDataProtectionProvider provider)
{
    private readonly IDataProtector _protector = provider.CreateProtector("Dms.Webhooks.EndpointSecret.v1");

    public string Protect(string secret) => _protector.Protect(secret);

    public string Unprotect(string stored) => _protector.Unprotect(stored);
}
