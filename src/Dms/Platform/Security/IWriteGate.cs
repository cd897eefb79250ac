namespace Dms.Platform.Security;

/// <summary>
/// Asked before every request that is not a GET or HEAD (after authentication, which covers bearer tokens; a UI cookie is
/// the gate's to read): may this tenant write now? Implemented by the Billing module (subscription states); it throws an
/// <see cref="Http.ApiProblem"/> to refuse. Runs before idempotency keys, so a
/// refusal is never stored as a key's answer.
/// </summary>
internal interface IWriteGate
{
    ValueTask CheckAsync(HttpContext context);
}
