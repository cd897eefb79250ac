namespace Dms.Platform.Configuration;

/// <summary>Every <c>Dms__*</c> setting; defaults here are the documented defaults (docs/configuration.md).</summary>
internal sealed class DmsOptions
{
    public const string Section = "Dms";

    /// <summary>Embedded PostgreSQL cluster, local blobs and the generated signing key live here.</summary>
    public string DataDirectory { get; set; } = ".dms";

    /// <summary>Public base URL of the API, for signed URLs when a proxy changes the host; empty: taken from each request.</summary>
    public string? PublicUrl { get; set; }

    /// <summary><c>all</c> (API + UI + worker), <c>api</c> or <c>worker</c>.</summary>
    public string Role { get; set; } = "all";

    public DatabaseOptions Database { get; set; } = new();
    public BootstrapOptions Bootstrap { get; set; } = new();
    public PlatformOptions Platform { get; set; } = new();
    public AuthOptions Auth { get; set; } = new();
    public UploadOptions Uploads { get; set; } = new();
    public StorageOptions Storage { get; set; } = new();
    public Outbox.OutboxOptions Outbox { get; set; } = new();

    /// <summary>Test-only fault switches (<c>Dms__Testing__…</c>); all off by default.</summary>
    public Testing.TestingOptions Testing { get; set; } = new();
    public ApprovalOptions Approvals { get; set; } = new();
    public SearchOptions Search { get; set; } = new();
    public RetentionOptions Retention { get; set; } = new();
    public AuditOptions Audit { get; set; } = new();
    public SecurityOptions Security { get; set; } = new();
    public UiOptions Ui { get; set; } = new();
    public HttpOptions Http { get; set; } = new();
    public MetricsOptions Metrics { get; set; } = new();
    public ManagementOptions Management { get; set; } = new();
    public LogOptions Logs { get; set; } = new();
    public TracingOptions Tracing { get; set; } = new();
    public Http.Idempotency.IdempotencyOptions Idempotency { get; set; } = new();
    public DocumentOptions Documents { get; set; } = new();
    public SharingOptions Sharing { get; set; } = new();
    public BulkOptions Bulk { get; set; } = new();
    public SavedViewOptions Views { get; set; } = new();

    /// <summary>The read replica (<c>ConnectionStrings__DmsReplica</c>, ADR 0035).</summary>
    public Dms.Platform.Database.ReplicaOptions Replica { get; set; } = new();

    public string DataDirectoryFullPath => Path.GetFullPath(DataDirectory);
}

internal sealed class DatabaseOptions
{
    /// <summary>Folder with initdb/pg_ctl; found with pg_config or PATH when empty.</summary>
    public string? BinDirectory { get; set; }

    /// <summary>
    /// How long a request waits to open a database connection before it answers 503 <c>database.unavailable</c> (a
    /// server that is down usually refuses at once; one that does not answer is waited for this long at most).
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long start-up waits for the database to accept connections (crash recovery after a power cut, a
    /// postmaster still being torn down, an external server restarting) before it gives up with one clear line.
    /// </summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(60);
}

internal sealed class BootstrapOptions
{
    public string Tenant { get; set; } = "demo";
    public string AdminEmail { get; set; } = "admin@demo.local";

    /// <summary>When empty on first start, a password is generated and printed once.</summary>
    public string? AdminPassword { get; set; }
}

internal sealed class PlatformOptions
{
    /// <summary>Key for <c>X-Platform-Key</c>; when empty the platform endpoints are disabled.</summary>
    public string? ApiKey { get; set; }
}

internal sealed class AuthOptions
{
    /// <summary>HMAC key for access tokens (at least 32 bytes). Generated into the data directory when empty.</summary>
    public string? SigningKey { get; set; }
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromMinutes(15);
    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(30);
    public string Issuer { get; set; } = "dms";
}

internal sealed class UploadOptions
{
    public long MaxBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>How long a direct-upload session (and its presigned URLs) stays usable.</summary>
    public TimeSpan SessionTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Direct uploads larger than this are split into parts, each with its own URL.</summary>
    public long MultipartThreshold { get; set; } = 64L * 1024 * 1024;

    /// <summary>Size of each part (S3 needs at least 5 MiB); grown when a file would need more than 10,000 parts.</summary>
    public long PartSize { get; set; } = 16L * 1024 * 1024;

    /// <summary>
    /// Comma-separated kinds accepted by content sniffing (see <c>FileKind</c>). A string, not an array,
    /// because configuration binding appends to a default array instead of replacing it.
    /// </summary>
    public string AllowedTypes { get; set; } = "pdf,docx,xlsx,pptx,odt,ods,txt,csv,md,png,jpeg,tiff";

    public IReadOnlyList<string> AllowedTypeList =>
        AllowedTypes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

internal sealed class StorageOptions
{
    /// <summary><c>FileSystem</c> or <c>S3</c>.</summary>
    public string Provider { get; set; } = "FileSystem";
    public FileSystemStorageOptions FileSystem { get; set; } = new();
    public S3StorageOptions S3 { get; set; } = new();

    /// <summary>Unreferenced blobs younger than this are left alone by reconciliation.</summary>
    public TimeSpan OrphanGracePeriod { get; set; } = TimeSpan.FromHours(24);
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// A file store's temporary file (a write a crash cut off) untouched this long is removed by reconciliation. Separate
    /// from <see cref="OrphanGracePeriod"/>, which may be zero: a live write's temporary file is never referenced by anything.
    /// </summary>
    public TimeSpan AbandonedWriteAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Lifetime of the signed or presigned URL a download redirects to.</summary>
    public TimeSpan DownloadUrlTtl { get; set; } = TimeSpan.FromMinutes(5);
}

internal sealed class S3StorageOptions
{
    /// <summary>Endpoint of an S3-compatible server (MinIO, moto…); empty for AWS S3 in <see cref="Region"/>.</summary>
    public string? ServiceUrl { get; set; }
    public string Bucket { get; set; } = "dms";
    public string Region { get; set; } = "us-east-1";

    /// <summary>Empty: the AWS SDK's default credential chain (environment, instance role…).</summary>
    public string? AccessKey { get; set; }
    public string? SecretKey { get; set; }
    public bool ForcePathStyle { get; set; }
    public bool CreateBucket { get; set; } = true;
}

internal sealed class FileSystemStorageOptions
{
    /// <summary>Defaults to <c>{DataDirectory}/blobs</c>.</summary>
    public string? Root { get; set; }
}

internal sealed class SearchOptions
{
    /// <summary>
    /// How many of the newest matches (and of the newest title matches) a search ranks. Rare words rank all their matches;
    /// a word in half the tenant ranks its newest ones, so a search costs the same at 10k and at 1M documents.
    /// </summary>
    public int Candidates { get; set; } = 1000;

    /// <summary>Totals are counted exactly up to this many matches, estimated above ("about 12,000").</summary>
    public int ExactCountUpTo { get; set; } = 1000;

    /// <summary>Snippets are cut from the first this-many characters of a version's text.</summary>
    public int SnippetSourceChars { get; set; } = 50_000;
}

internal sealed class ApprovalOptions
{
    /// <summary>A request nobody decided within this time expires.</summary>
    public TimeSpan PendingTtl { get; set; } = TimeSpan.FromDays(14);
}

internal sealed class RetentionOptions
{
    /// <summary>How long a deleted document stays restorable before it is purged.</summary>
    public TimeSpan DeletedDocuments { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often expired requests are closed and due purges scheduled.</summary>
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromHours(1);
}

internal sealed class AuditOptions
{
    /// <summary>How often a worker signs a checkpoint of each tenant's chain head (only when the head moved).</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>HMAC key for audit checkpoints (at least 32 bytes), never stored in the database. Generated into the data directory when empty.</summary>
    public string? CheckpointKey { get; set; }

    /// <summary>Keys that signed older checkpoints, still accepted when verifying after a rotation.</summary>
    public List<string> PreviousCheckpointKeys { get; set; } = [];

    /// <summary>
    /// How often each node's audit chainer looks for tenants with events not yet chained (ADR 0038), besides being woken
    /// by every recording transaction's notification: what a crashed node or a lost notification left is chained by then.
    /// </summary>
    public TimeSpan ChainInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most events one chaining transaction seals (a tenant's larger backlog takes several in a row).</summary>
    public int ChainBatchSize { get; set; } = 500;
}

internal sealed class SecurityOptions
{
    /// <summary>Sign-in attempts per client address per window; more are answered 429.</summary>
    public RateLimitOptions LoginRateLimit { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(3) };

    /// <summary>Uploads (streamed, sessions, replace requests) per user per window.</summary>
    public RateLimitOptions UploadRateLimit { get; set; } = new() { PermitLimit = 120, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Consecutive failed sign-ins for one tenant and e-mail before it is locked.</summary>
    public int LockoutThreshold { get; set; } = 5;
    public TimeSpan LockoutDuration { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Origins allowed to call the API from a browser; empty: CORS is off.</summary>
    public string AllowedOrigins { get; set; } = "";

    /// <summary>Largest request body other than file content (uploads raise it to their own limit per request).</summary>
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;
}

/// <summary>Public share links (issue 16): the defaults a tenant without its own sharing settings gets, and the links' rate limits.</summary>
internal sealed class SharingOptions
{
    /// <summary>Whether tenants may share links until an admin says otherwise.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The longest a link may live, in days, until a tenant admin sets the tenant's own.</summary>
    public int MaxDays { get; set; } = 30;

    /// <summary>Requests to one link (page, downloads, password attempts) per window, across addresses.</summary>
    public RateLimitOptions TokenRateLimit { get; set; } = new() { PermitLimit = 60, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Requests to any link from one client address per window.</summary>
    public RateLimitOptions AddressRateLimit { get; set; } = new() { PermitLimit = 300, Window = TimeSpan.FromMinutes(1) };
}

internal sealed class RateLimitOptions
{
    public int PermitLimit { get; set; }
    public TimeSpan Window { get; set; }
}

internal sealed class UiOptions
{
    /// <summary>Where the UI's cookie and antiforgery keys live; every node must share it. Default: {DataDirectory}/ui-keys.</summary>
    public string? KeysDirectory { get; set; }
}

internal sealed class HttpOptions
{
    /// <summary>
    /// Comma-separated IPs or CIDR networks of the reverse proxies / load balancers whose <c>X-Forwarded-For</c> and
    /// <c>X-Forwarded-Proto</c> are believed. Empty (the default): forwarded headers are ignored.
    /// </summary>
    public string KnownProxies { get; set; } = "";

    public IReadOnlyList<string> KnownProxyList =>
        KnownProxies.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary><c>GET /metrics</c> (issue 14): who may scrape it on the main port, and how often database gauges are sampled.</summary>
internal sealed class MetricsOptions
{
    /// <summary>Networks (CIDR, e.g. <c>10.0.0.0/8</c>) allowed to read /metrics on the main port besides loopback.</summary>
    public string[] AllowedNetworks { get; set; } = [];

    /// <summary>How often worker nodes read the outbox and approval gauges from the database.</summary>
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(15);
}

/// <summary>A separate port for /metrics (e.g. <c>http://0.0.0.0:9090</c>): when set, /metrics answers there only, to anyone who reaches it.</summary>
internal sealed class ManagementOptions
{
    public string? Urls { get; set; }
}

/// <summary>What the logs say about requests and queries.</summary>
internal sealed class LogOptions
{
    /// <summary>One line per request (method, route, status, duration) at Information; off by default.</summary>
    public bool Requests { get; set; }

    /// <summary>A request slower than this is logged as a warning (route and duration, never the query string).</summary>
    public TimeSpan SlowRequest { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A database command slower than this is logged as a warning (its SQL text, never its parameters).</summary>
    public TimeSpan SlowQuery { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Traces: exported over OTLP when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; <see cref="Enabled"/> records them without an exporter (tests).</summary>
internal sealed class TracingOptions
{
    public bool Enabled { get; set; }
}

internal sealed class DocumentOptions
{
    /// <summary>How long a check-out holds a document; after it the lock is simply gone (nothing has to run to release it).</summary>
    public TimeSpan CheckoutTimeout { get; set; } = TimeSpan.FromHours(8);
}

/// <summary>Bulk jobs (issue 16, docs/bulk-actions.md): how many documents one job may hold and how workers take their items.</summary>
internal sealed class BulkOptions
{
    /// <summary>The most documents one job may act on; a larger selection or filter is refused (400 bulk.too_many).</summary>
    public int MaxDocuments { get; set; } = 10_000;

    /// <summary>Items a worker leases at a time.</summary>
    public int BatchSize { get; set; } = 50;

    /// <summary>How long a leased batch stays a worker's; after it lapses (a crashed worker) another worker takes the items over.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often an idle worker looks for work.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Tries of one item that keeps failing unexpectedly (not a refusal) before it is reported failed.</summary>
    public int MaxAttempts { get; set; } = 5;
}

internal sealed class SavedViewOptions
{
    /// <summary>A pinned view's count stops here and shows "1,000+": counting a million matches would cost more than the home page is worth.</summary>
    public int CountCap { get; set; } = 1000;

    /// <summary>How many views one user may save (every one of them is listed for its owner, and shared ones for everyone).</summary>
    public int MaxPerUser { get; set; } = 200;
}
