namespace Dms.Modules.Documents.Views;

/// <summary>Saved views' services beside their handlers (which <c>AddHandlersFrom</c> registers with the module's).</summary>
internal static class SavedViewsRegistration
{
    public static IServiceCollection AddSavedViews(this IServiceCollection services) =>
        services.AddSingleton<SaveViewChecks>().AddSingleton<ViewCounter>();
}
