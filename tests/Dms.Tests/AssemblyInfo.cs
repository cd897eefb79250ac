// The tests drive the Linux-only server (embedded PostgreSQL via runuser, /proc) in-process.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
