using Dms.Platform.Http;

namespace Dms.Modules.Access.Domain;

/// <summary>Rules for e-mails, passwords, display names and tenant slugs, shared by every way in.</summary>
internal static class AccountRules
{
    public const int MinPasswordLength = 10;
    public const int MaxPasswordLength = 256;

    public static string NormalizeEmail(string email) => email.Trim().ToLowerInvariant();

    public static bool IsValidEmail(string? email) =>
        email is { Length: >= 3 and <= 254 } &&
        email.Trim() is var e && e.IndexOf('@', StringComparison.Ordinal) is > 0 and var at && at < e.Length - 1 &&
        e.IndexOf('@', at + 1) < 0 && !e.Any(c => char.IsWhiteSpace(c) || char.IsControl(c));

    public static bool IsValidPassword(string? password) =>
        password is { Length: >= MinPasswordLength and <= MaxPasswordLength };

    public static bool IsValidSlug(string? slug) =>
        slug is { Length: >= 2 and <= 63 } && char.IsAsciiLetterLower(slug[0]) | char.IsAsciiDigit(slug[0]) &&
        slug.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    public static bool IsValidName(string? name, int max) =>
        name is not null && name.Trim().Length is var l && l >= 1 && l <= max && !name.Any(char.IsControl);

    public static void ValidateNewAccount(Validator v, string? email, string? password, string emailField = "email", string passwordField = "password")
    {
        v.Require(IsValidEmail(email), emailField, "A valid e-mail address is required.");
        v.Require(IsValidPassword(password), passwordField, $"The password must be {MinPasswordLength} to {MaxPasswordLength} characters long.");
    }
}
