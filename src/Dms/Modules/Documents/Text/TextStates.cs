namespace Dms.Modules.Documents.Text;

/// <summary>Where a version's text stands (stored by name in <c>version_texts.status</c>).</summary>
internal enum TextStatus
{
    /// <summary>Queued: the worker has not read it yet.</summary>
    Pending,

    /// <summary>Text was read (possibly truncated at the output cap).</summary>
    Extracted,

    /// <summary>The file was read and holds no text (a blank page, a photo without words).</summary>
    Empty,

    /// <summary>This file type is not read.</summary>
    Unsupported,

    /// <summary>The tool that reads this type is not installed on the worker.</summary>
    Unavailable,

    /// <summary>Reading failed (a damaged file, a limit was hit); the error says why.</summary>
    Failed,
}

/// <summary>How the text was read (stored by name in <c>version_texts.method</c>).</summary>
internal enum TextMethod
{
    TextLayer,
    Ocr,
    Office,
    Plain,
}
