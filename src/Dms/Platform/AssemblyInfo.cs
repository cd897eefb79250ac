// The server runs on Linux: the embedded PostgreSQL launcher uses runuser and /proc, and secrets are
// written with Unix file modes.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
