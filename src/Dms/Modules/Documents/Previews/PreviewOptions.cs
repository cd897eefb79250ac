namespace Dms.Modules.Documents.Previews;

/// <summary><c>Dms__Previews__*</c>: limits of one rendering tool run (each of vips, pdftoppm, LibreOffice gets its own).</summary>
internal sealed class PreviewOptions
{
    public const string Section = "Dms:Previews";

    /// <summary>Off: versions get no renditions (recorded as failed, "turned off"), and no tool runs. For nodes without the tools.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Wall-clock time one tool run may take before its process tree is killed.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Address-space cap of one tool run, in MiB (prlimit --as).</summary>
    public int MemoryMb { get; set; } = 1024;

    /// <summary>Thumbnail width in pixels.</summary>
    public int ThumbnailWidth { get; set; } = 320;
}
