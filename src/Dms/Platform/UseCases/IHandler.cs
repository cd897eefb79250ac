using Dms.Platform.Security;

namespace Dms.Platform.UseCases;

/// <summary>
/// A use case (ADR 0015): a command or query in, a result out, for the current user; no HTTP in it. It opens its
/// own tenant transaction (the tenant comes from <paramref name="me"/>) and reports a refusal as an
/// <see cref="Http.ApiProblem"/> carrying the stable problem code, thrown before anything commits. The minimal-API
/// endpoint and the Razor page handler are adapters over the same handler.
/// </summary>
internal interface IHandler<in TCommand, TResult>
{
    Task<TResult> HandleAsync(TCommand command, CurrentUser me, CancellationToken ct);
}

internal static class HandlerRegistration
{
    /// <summary>Registers every handler class in <paramref name="moduleNamespace"/> (and below) as a singleton, by its own type.</summary>
    public static IServiceCollection AddHandlersFrom(this IServiceCollection services, string moduleNamespace)
    {
        var handlers = typeof(HandlerRegistration).Assembly.GetTypes().Where(t =>
            t is { IsClass: true, IsAbstract: false } &&
            (t.Namespace == moduleNamespace || t.Namespace?.StartsWith(moduleNamespace + ".", StringComparison.Ordinal) == true) &&
            t.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IHandler<,>)));
        foreach (var handler in handlers)
        {
            services.AddSingleton(handler);
        }
        return services;
    }
}
