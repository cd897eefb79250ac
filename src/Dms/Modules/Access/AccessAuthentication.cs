using Dms.Modules.Access.Tokens;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Authentication;

namespace Dms.Modules.Access;

/// <summary>Access's part in authentication: the account check behind every request, and personal API tokens as a bearer scheme.</summary>
internal static class AccessAuthentication
{
    public static IServiceCollection AddAccessAuthentication(this IServiceCollection services)
    {
        services.AddSingleton<AccountChanges>();
        services.AddSingleton<Dms.Platform.Caching.INodeCache>(sp => sp.GetRequiredService<AccountChanges>());
        services.AddSingleton<IAccountCheck, AccountCheck>();
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, PersonalTokenHandler>(PersonalTokens.Scheme, _ => { });
        services.Configure<BearerTokenSchemes>(o => o.ByPrefix[PersonalTokens.Prefix] = PersonalTokens.Scheme);
        return services;
    }
}
