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
        ValidatePassword(v, password, email, passwordField);
    }

    /// <summary>
    /// The password policy, for every way a password is set (new account, change, reset to a chosen one): a length,
    /// not one of the common passwords shipped with the app, and not the account's own e-mail or its name.
    /// </summary>
    public static void ValidatePassword(Validator v, string? password, string? email, string field = "password")
    {
        v.Require(IsValidPassword(password), field, $"The password must be {MinPasswordLength} to {MaxPasswordLength} characters long.");
        if (!IsValidPassword(password))
        {
            return;
        }
        v.Require(!CommonPasswords.Contains(password!.Trim()), field, "This password is one of the most common ones; choose another.");
        var name = email?.Split('@')[0].Trim();
        v.Require(string.IsNullOrEmpty(name) || !(string.Equals(password, email?.Trim(), StringComparison.OrdinalIgnoreCase) ||
            string.Equals(password, name, StringComparison.OrdinalIgnoreCase)), field, "The password must not be your e-mail address or its name.");
    }

    private static readonly HashSet<string> CommonPasswords = LoadCommonPasswords();

    private static HashSet<string> LoadCommonPasswords()
    {
        using var stream = typeof(AccountRules).Assembly.GetManifestResourceStream("Dms.Modules.Access.Domain.common-passwords.txt")
            ?? throw new InvalidOperationException("The common-passwords list is missing from the build.");
        using var reader = new StreamReader(stream);
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0 && line[0] != '#')
            {
                set.Add(line.Trim());
            }
        }
        return set;
    }
}
