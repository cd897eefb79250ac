using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Dms.Platform;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>An app of its own for the Idempotency-Key tests, so its waits and retention can be set for them.</summary>
public class IdempotencyAppFixture : IAsyncLifetime
{
    internal DmsApp App { get; private set; } = null!;
    internal TestTenant Tenant { get; private set; } = null!;

    protected virtual IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        // A hundred requests on a loaded machine: the ones that wait for the first must not give up before it answers.
        ["Dms:Idempotency:WaitForInProgress"] = "00:02:00",
        // A hundred requests open connections at once beside the rest of the suite; past the 5 s default wait for one, the
        // app sheds them as 503 database.unavailable (by design). These tests are about one effect, not capacity.
        ["Dms:Database:ConnectTimeout"] = "00:00:30",
    };

    public async Task InitializeAsync()
    {
        App = await DmsApp.CreateIsolatedAsync($"idem_{Guid.NewGuid():N}"[..16], Settings);
        Tenant = await App.CreateTenantAsync();
    }

    public async Task DisposeAsync() => await App.DisposeAsync();
}

/// <summary>Short waits, leases and retention, and a cleanup pass every half second: what happens when time passes.</summary>
public sealed class IdempotencyLifecycleFixture : IdempotencyAppFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Dms:Idempotency:WaitForInProgress"] = "00:00:01",
        ["Dms:Idempotency:Lease"] = "00:00:03",
        ["Dms:Idempotency:Retention"] = "00:00:02",
        ["Dms:Idempotency:CleanupInterval"] = "00:00:00.500",
    };
}

/// <summary>Requests, keys and rows shared by the two test classes.</summary>
internal static class Idempotent
{
    public const string Replayed = "Idempotent-Replayed";

    public static Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, HttpContent? content, string? key, string? ifMatch = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        }
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }
        return client.SendAsync(request);
    }

    /// <summary>An upload form built anew (so with a new random boundary, as a client's retry would): same fields, same bytes.</summary>
    public static MultipartFormDataContent Form(string title, byte[] content, Stream? file = null)
    {
        var form = new MultipartFormDataContent { { new StringContent(title), "title" } };
        var part = new StreamContent(file ?? new MemoryStream(content));
        part.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        form.Add(part, "file", "note.txt");
        return form;
    }

    /// <summary>A client that streams its request body (the default test client buffers it to be able to follow redirects).</summary>
    public static HttpClient Streaming(TestTenant tenant) => tenant.App.ClientWithTokenNoRedirect(tenant.Admin.Tokens.AccessToken);

    public static Task<HttpResponseMessage> UploadAsync(HttpClient client, string title, byte[] content, string? key) =>
        SendAsync(client, HttpMethod.Post, "/api/v1/documents", Form(title, content), key);

    public static bool WasReplayed(HttpResponseMessage response) =>
        response.Headers.TryGetValues(Replayed, out var values) && values.Single() == "true";

    public static async Task<long> ScalarAsync(DmsApp app, Guid tenant, string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = new NpgsqlConnection(app.OwnerConnectionString);
        await conn.OpenAsync();
        await using (var set = new NpgsqlCommand("SELECT set_config('app.tenant_id', @tenant, false)", conn))
        {
            set.Parameters.AddWithValue("tenant", tenant.ToString());
            await set.ExecuteScalarAsync();
        }
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static Task<long> DocumentsTitledAsync(TestTenant tenant, string title) =>
        ScalarAsync(tenant.App, tenant.Id, "SELECT count(*) FROM documents WHERE tenant_id = @t AND title = @title", ("t", tenant.Id), ("title", title));

    public static Task<long> KeyRowsAsync(TestTenant tenant, string key, string state) =>
        ScalarAsync(tenant.App, tenant.Id, "SELECT count(*) FROM idempotency_keys WHERE tenant_id = @t AND key = @key AND state = @state",
            ("t", tenant.Id), ("key", key), ("state", state));

    /// <summary>Polls <paramref name="condition"/> until it holds, for up to a minute (a loaded machine is slow, never a failure).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new ShouldAssertException($"Still not so after a minute: {what}");
            }
            await Task.Delay(50);
        }
    }
}

/// <summary>
/// A file stream that holds its bytes back until the test opens the gate: the request it belongs to is still running,
/// in the middle of its body, for as long as the test wants.
/// </summary>
internal sealed class GatedStream(byte[] content, Task gate) : ReadOnlyStream
{
    private readonly MemoryStream _inner = new(content);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await gate.WaitAsync(cancellationToken);
        return await _inner.ReadAsync(buffer, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");
}

/// <summary>
/// Idempotency-Key (issue 15): a retried POST or PATCH with its key runs once and gets the first answer back, whatever
/// the concurrency; the same key for another request is refused; keys are per user and per tenant; uploads retried
/// with a rebuilt form (new boundary) are recognised; stored answers are encrypted.
/// </summary>
public sealed class IdempotencyTests(IdempotencyAppFixture fixture) : IClassFixture<IdempotencyAppFixture>
{
    private TestTenant Tenant => fixture.Tenant;
    private HttpClient Admin => fixture.Tenant.Admin.Client;

    private static string NewKey() => Guid.NewGuid().ToString();

    [Fact]
    public async Task A_hundred_parallel_uploads_with_one_key_make_one_document_and_a_hundred_identical_answers()
    {
        var key = NewKey();
        var title = $"parallel {key}";
        var bytes = Uploads.Text("one hundred times the same note");
        // Each request builds its own form, so each has its own multipart boundary, as a client's retries would.
        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => Idempotent.UploadAsync(Admin, title, bytes, key)));

        var first = responses[0];
        await first.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var body = await first.Content.ReadAsStringAsync();
        foreach (var response in responses)
        {
            response.StatusCode.ShouldBe(HttpStatusCode.Created);
            (await response.Content.ReadAsStringAsync()).ShouldBe(body);
            response.Headers.ETag.ShouldBe(first.Headers.ETag);
            response.Headers.Location.ShouldBe(first.Headers.Location);
        }
        responses.Count(r => !Idempotent.WasReplayed(r)).ShouldBe(1, "one request ran; the 99 others got its answer");
        (await Idempotent.DocumentsTitledAsync(Tenant, title)).ShouldBe(1);
        (await Idempotent.KeyRowsAsync(Tenant, key, "Completed")).ShouldBe(1);
    }

    [Fact]
    public async Task A_retried_upload_with_a_rebuilt_form_is_replayed_and_stores_one_document()
    {
        var key = NewKey();
        var title = $"retried {key}";
        var bytes = Uploads.Text("a note worth keeping once");
        using var first = await Idempotent.UploadAsync(Admin, title, bytes, key);
        await first.ShouldHaveStatusAsync(HttpStatusCode.Created);
        Idempotent.WasReplayed(first).ShouldBeFalse();

        using var retry = await Idempotent.UploadAsync(Admin, title, bytes, key);
        await retry.ShouldHaveStatusAsync(HttpStatusCode.Created);
        Idempotent.WasReplayed(retry).ShouldBeTrue();
        (await retry.Content.ReadAsStringAsync()).ShouldBe(await first.Content.ReadAsStringAsync());
        retry.Headers.Location.ShouldBe(first.Headers.Location);
        retry.Content.Headers.ContentType?.MediaType.ShouldBe("application/json");
        (await Idempotent.DocumentsTitledAsync(Tenant, title)).ShouldBe(1);

        // Without the key the same upload is a new request, and a second document.
        using var unkeyed = await Idempotent.UploadAsync(Admin, title, bytes, key: null);
        await unkeyed.ShouldHaveStatusAsync(HttpStatusCode.Created);
        (await Idempotent.DocumentsTitledAsync(Tenant, title)).ShouldBe(2);
    }

    [Fact]
    public async Task The_same_key_for_another_request_is_refused_with_422()
    {
        var key = NewKey();
        var title = $"reused {key}";
        using var first = await Idempotent.UploadAsync(Admin, title, Uploads.Text("first content"), key);
        await first.ShouldHaveStatusAsync(HttpStatusCode.Created);

        using var otherBody = await Idempotent.UploadAsync(Admin, title, Uploads.Text("other content"), key);
        await otherBody.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "idempotency.key_reused");
        using var otherTitle = await Idempotent.UploadAsync(Admin, title + " (2)", Uploads.Text("first content"), key);
        await otherTitle.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "idempotency.key_reused");
        using var otherPath = await Idempotent.SendAsync(Admin, HttpMethod.Post, "/api/v1/workspaces", JsonContent.Create(new { name = $"ws {key}" }), key);
        await otherPath.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "idempotency.key_reused");

        (await Idempotent.DocumentsTitledAsync(Tenant, title)).ShouldBe(1);
        (await Idempotent.DocumentsTitledAsync(Tenant, title + " (2)")).ShouldBe(0);
    }

    [Fact]
    public async Task A_retried_patch_gets_its_first_answer_instead_of_a_stale_version_error()
    {
        using var upload = await Idempotent.UploadAsync(Admin, $"patch {NewKey()}", Uploads.Text("to be renamed"), key: null);
        var id = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        var key = NewKey();
        HttpContent Rename() => new StringContent("""{"title":"Renamed once"}""", Encoding.UTF8, "application/json");

        using var first = await Idempotent.SendAsync(Admin, HttpMethod.Patch, $"/api/v1/documents/{id}", Rename(), key, ifMatch: "\"1\"");
        await first.ShouldHaveStatusAsync(HttpStatusCode.OK);
        first.Headers.ETag!.Tag.ShouldBe("\"2\"");

        using var retry = await Idempotent.SendAsync(Admin, HttpMethod.Patch, $"/api/v1/documents/{id}", Rename(), key, ifMatch: "\"1\"");
        await retry.ShouldHaveStatusAsync(HttpStatusCode.OK);
        Idempotent.WasReplayed(retry).ShouldBeTrue();
        retry.Headers.ETag!.Tag.ShouldBe("\"2\"");
        (await retry.Content.ReadAsStringAsync()).ShouldBe(await first.Content.ReadAsStringAsync());

        // What the retry would have met without its key: the version it names is gone.
        using var unkeyed = await Idempotent.SendAsync(Admin, HttpMethod.Patch, $"/api/v1/documents/{id}", Rename(), key: null, ifMatch: "\"1\"");
        unkeyed.StatusCode.ShouldBe(HttpStatusCode.PreconditionFailed);
        // The If-Match is part of the request: another one with this key is another request.
        using var otherVersion = await Idempotent.SendAsync(Admin, HttpMethod.Patch, $"/api/v1/documents/{id}", Rename(), key, ifMatch: "\"2\"");
        await otherVersion.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "idempotency.key_reused");
        using var current = await Admin.GetAsync($"/api/v1/documents/{id}");
        current.Headers.ETag!.Tag.ShouldBe("\"2\"", "one change");
    }

    [Fact]
    public async Task Keys_belong_to_one_user_of_one_tenant()
    {
        var key = NewKey();
        var title = $"shared key {key}";
        var bytes = Uploads.Text("same request, different people");
        var member = await Tenant.CreateUserAsync("Member");
        var otherTenant = await fixture.App.CreateTenantAsync();

        using var byAdmin = await Idempotent.UploadAsync(Admin, title, bytes, key);
        await byAdmin.ShouldHaveStatusAsync(HttpStatusCode.Created);
        using var byMember = await Idempotent.UploadAsync(member.Client, title, bytes, key);
        await byMember.ShouldHaveStatusAsync(HttpStatusCode.Created);
        Idempotent.WasReplayed(byMember).ShouldBeFalse("another user's key is not this user's");
        using var byOtherTenant = await Idempotent.UploadAsync(otherTenant.Admin.Client, title, bytes, key);
        await byOtherTenant.ShouldHaveStatusAsync(HttpStatusCode.Created);
        Idempotent.WasReplayed(byOtherTenant).ShouldBeFalse("another tenant's key is not this tenant's");

        (await Idempotent.DocumentsTitledAsync(Tenant, title)).ShouldBe(2);
        (await Idempotent.DocumentsTitledAsync(otherTenant, title)).ShouldBe(1);
        (await Idempotent.ScalarAsync(fixture.App, Tenant.Id, "SELECT count(*) FROM idempotency_keys WHERE key = @key", ("key", key)))
            .ShouldBe(2, "row-level security shows this tenant's two keys, not the other tenant's");
    }

    [Fact]
    public async Task A_retry_while_the_first_request_runs_waits_for_its_answer()
    {
        var key = NewKey();
        var title = $"slow {key}";
        var bytes = Uploads.Text("arrives slowly");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = Idempotent.SendAsync(Idempotent.Streaming(Tenant), HttpMethod.Post, "/api/v1/documents", Idempotent.Form(title, bytes, new GatedStream(bytes, gate.Task)), key);
        await Idempotent.EventuallyAsync(async () => await Idempotent.KeyRowsAsync(Tenant, key, "InProgress") == 1, "the first request holds its key");

        var retry = Idempotent.UploadAsync(Admin, title, bytes, key);
        await Task.Delay(300);
        retry.IsCompleted.ShouldBeFalse("the retry waits while the first runs");
        gate.SetResult();

        using var first = await slow;
        using var second = await retry;
        await first.ShouldHaveStatusAsync(HttpStatusCode.Created);
        await second.ShouldHaveStatusAsync(HttpStatusCode.Created);
        Idempotent.WasReplayed(second).ShouldBeTrue();
        (await second.Content.ReadAsStringAsync()).ShouldBe(await first.Content.ReadAsStringAsync());
        (await Idempotent.DocumentsTitledAsync(Tenant, title)).ShouldBe(1);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" padded ")]
    [InlineData("tab\tinside")]
    [InlineData("ünïcode")]
    [InlineData("256")]
    public async Task A_key_that_is_not_1_to_255_printable_ascii_characters_is_a_400(string key)
    {
        if (key == "256")
        {
            key = new string('k', 256);
        }
        var name = $"ws {Guid.NewGuid()}";
        // Through the in-memory server straight: header bytes HttpClient would refuse to send reach the app as they are.
        var context = await fixture.App.Server.SendAsync(c =>
        {
            c.Request.Method = "POST";
            c.Request.Path = "/api/v1/workspaces";
            c.Request.Headers.Authorization = $"Bearer {Tenant.Admin.Tokens.AccessToken}";
            c.Request.Headers["Idempotency-Key"] = key;
            c.Request.ContentType = "application/json";
            c.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes($$"""{"name":"{{name}}"}"""));
        });
        context.Response.StatusCode.ShouldBe(StatusCodes.Status400BadRequest);
        var problem = await System.Text.Json.JsonDocument.ParseAsync(context.Response.Body);
        problem.RootElement.GetProperty("code").GetString().ShouldBe("idempotency.invalid_key");
        (await Idempotent.ScalarAsync(fixture.App, Tenant.Id, "SELECT count(*) FROM workspaces WHERE tenant_id = @t AND name = @name",
            ("t", Tenant.Id), ("name", name))).ShouldBe(0);
    }

    [Fact]
    public async Task Two_keys_on_one_request_are_a_400()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workspaces") { Content = JsonContent.Create(new { name = $"ws {NewKey()}" }) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", [NewKey(), NewKey()]);
        using var response = await Admin.SendAsync(request);
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "idempotency.invalid_key");
    }

    [Fact]
    public async Task The_api_reference_offers_the_header_on_posts_and_patches_only()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(await fixture.App.CreateClient().GetStringAsync("/openapi/v1.json"));
        bool Offers(string path, string method) =>
            doc.RootElement.GetProperty("paths").GetProperty(path).GetProperty(method).TryGetProperty("parameters", out var parameters) &&
            parameters.EnumerateArray().Any(p => p.GetProperty("name").GetString() == "Idempotency-Key" && p.GetProperty("in").GetString() == "header");
        Offers("/api/v1/documents", "post").ShouldBeTrue();
        Offers("/api/v1/documents/{id}", "patch").ShouldBeTrue();
        Offers("/api/v1/documents/{id}", "get").ShouldBeFalse();
    }

    [Fact]
    public async Task Signing_in_ignores_the_key_so_no_session_is_ever_replayed()
    {
        var key = NewKey();
        async Task<string> SignInAsync()
        {
            using var response = await Idempotent.SendAsync(fixture.App.CreateClient(), HttpMethod.Post, "/api/v1/auth/login",
                JsonContent.Create(new { tenant = Tenant.Slug, email = Tenant.Admin.Email, password = Tenant.Admin.Password }), key);
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
            Idempotent.WasReplayed(response).ShouldBeFalse();
            return (await response.JsonAsync()).GetProperty("refreshToken").GetString()!;
        }
        (await SignInAsync()).ShouldNotBe(await SignInAsync(), "each sign-in is its own session");
        (await Idempotent.ScalarAsync(fixture.App, Tenant.Id, "SELECT count(*) FROM idempotency_keys WHERE key = @key", ("key", key))).ShouldBe(0);
    }

    [Fact]
    public async Task An_answer_carrying_a_secret_is_stored_encrypted_and_replayed_whole()
    {
        var key = NewKey();
        var expiresAt = DateTimeOffset.UtcNow.AddDays(30);
        HttpContent Body() => JsonContent.Create(new { name = $"script {key}", expiresAt });
        using var first = await Idempotent.SendAsync(Admin, HttpMethod.Post, "/api/v1/me/tokens", Body(), key);
        await first.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var token = (await first.JsonAsync()).GetProperty("token").GetString()!;

        await using (var conn = new NpgsqlConnection(fixture.App.OwnerConnectionString))
        {
            await conn.OpenAsync();
            await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{Tenant.Id}', false)", conn))
            {
                await set.ExecuteScalarAsync();
            }
            await using var cmd = new NpgsqlCommand("SELECT response FROM idempotency_keys WHERE key = @key", conn);
            cmd.Parameters.AddWithValue("key", key);
            var stored = (byte[])(await cmd.ExecuteScalarAsync())!;
            stored.Length.ShouldBeGreaterThan(0);
            Encoding.UTF8.GetString(stored).ShouldNotContain(token);
            Encoding.UTF8.GetString(stored).ShouldNotContain("dms_pat_");
            Encoding.UTF8.GetString(stored).ShouldNotContain($"script {key}");
        }

        using var retry = await Idempotent.SendAsync(Admin, HttpMethod.Post, "/api/v1/me/tokens", Body(), key);
        await retry.ShouldHaveStatusAsync(HttpStatusCode.Created);
        Idempotent.WasReplayed(retry).ShouldBeTrue();
        (await retry.JsonAsync()).GetProperty("token").GetString().ShouldBe(token, "the client that lost the first answer gets its token");
        var tokens = await (await Admin.GetAsync("/api/v1/me/tokens")).JsonAsync();
        tokens.GetProperty("items").EnumerateArray().Count(t => t.GetProperty("name").GetString() == $"script {key}").ShouldBe(1);
    }
}

/// <summary>
/// Idempotency-Key over time: a retry that outwaits the first request gets 409 with Retry-After while the first keeps its
/// claim alive; a 5xx is not kept; a dead node's claim is taken over after its lease; expired keys are deleted and free.
/// </summary>
public sealed class IdempotencyLifecycleTests(IdempotencyLifecycleFixture fixture) : IClassFixture<IdempotencyLifecycleFixture>
{
    private TestTenant Tenant => fixture.Tenant;
    private HttpClient Admin => fixture.Tenant.Admin.Client;

    [Fact]
    public async Task A_retry_that_outwaits_a_running_request_gets_409_with_retry_after_and_the_claim_outlives_its_lease()
    {
        var key = Guid.NewGuid().ToString();
        var title = $"long {key}";
        var bytes = Uploads.Text("a long upload");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = Idempotent.SendAsync(Idempotent.Streaming(Tenant), HttpMethod.Post, "/api/v1/documents", Idempotent.Form(title, bytes, new GatedStream(bytes, gate.Task)), key);
        await Idempotent.EventuallyAsync(async () => await Idempotent.KeyRowsAsync(Tenant, key, "InProgress") == 1, "the first request holds its key");

        using (var early = await Idempotent.UploadAsync(Admin, title, bytes, key))
        {
            await early.ShouldBeProblemAsync(HttpStatusCode.Conflict, "idempotency.in_progress");
            early.Headers.RetryAfter.ShouldNotBeNull();
        }
        // Twice the lease later the first request still runs and still holds the key: it renews its claim.
        await Task.Delay(TimeSpan.FromSeconds(6));
        using (var later = await Idempotent.UploadAsync(Admin, title, bytes, key))
        {
            await later.ShouldBeProblemAsync(HttpStatusCode.Conflict, "idempotency.in_progress");
        }

        gate.SetResult();
        using var first = await slow;
        await first.ShouldHaveStatusAsync(HttpStatusCode.Created);
        using var retry = await Idempotent.UploadAsync(Admin, title, bytes, key);
        await retry.ShouldHaveStatusAsync(HttpStatusCode.Created);
        Idempotent.WasReplayed(retry).ShouldBeTrue();
        (await Idempotent.DocumentsTitledAsync(Tenant, title)).ShouldBe(1);
    }

    [Fact]
    public async Task A_server_error_is_not_kept_so_the_retry_runs_again()
    {
        var key = Guid.NewGuid().ToString();
        var title = $"outage {key}";
        var bytes = Uploads.Text("stored once storage is back");
        var away = fixture.App.BlobRoot + ".away";
        Directory.Move(fixture.App.BlobRoot, away);
        try
        {
            using var failed = await Idempotent.UploadAsync(Admin, title, bytes, key);
            await failed.ShouldBeProblemAsync(HttpStatusCode.ServiceUnavailable, "storage.unavailable");
        }
        finally
        {
            Directory.Move(away, fixture.App.BlobRoot);
        }
        (await Idempotent.ScalarAsync(fixture.App, Tenant.Id, "SELECT count(*) FROM idempotency_keys WHERE key = @key", ("key", key))).ShouldBe(0, "the key was released");

        using var retry = await Idempotent.UploadAsync(Admin, title, bytes, key);
        await retry.ShouldHaveStatusAsync(HttpStatusCode.Created);
        Idempotent.WasReplayed(retry).ShouldBeFalse("the failed attempt left nothing to replay");
        (await Idempotent.DocumentsTitledAsync(Tenant, title)).ShouldBe(1);
    }

    [Fact]
    public async Task A_claim_left_by_a_dead_node_is_taken_over_once_its_lease_ran_out()
    {
        // What a node that died mid-request leaves behind: an InProgress claim nobody renews.
        var abandoned = Guid.NewGuid().ToString();
        var held = Guid.NewGuid().ToString();
        await using (var conn = new NpgsqlConnection(fixture.App.OwnerConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"""
                SELECT set_config('app.tenant_id', '{Tenant.Id}', false);
                INSERT INTO idempotency_keys (tenant_id, user_id, key, state, owner_id, locked_until, created_at, expires_at)
                SELECT tenant_id, id, @abandoned, 'InProgress', gen_random_uuid(), now() - interval '1 second', now(), now() + interval '1 day'
                FROM users WHERE tenant_id = @tenant AND email = @email;
                INSERT INTO idempotency_keys (tenant_id, user_id, key, state, owner_id, locked_until, created_at, expires_at)
                SELECT tenant_id, id, @held, 'InProgress', gen_random_uuid(), now() + interval '1 hour', now(), now() + interval '1 day'
                FROM users WHERE tenant_id = @tenant AND email = @email;
                """, conn);
            cmd.Parameters.AddWithValue("abandoned", abandoned);
            cmd.Parameters.AddWithValue("held", held);
            cmd.Parameters.AddWithValue("tenant", Tenant.Id);
            cmd.Parameters.AddWithValue("email", Tenant.Admin.Email);
            await cmd.ExecuteNonQueryAsync();
        }

        using var stillHeld = await Idempotent.UploadAsync(Admin, $"held {held}", Uploads.Text("waits"), held);
        await stillHeld.ShouldBeProblemAsync(HttpStatusCode.Conflict, "idempotency.in_progress");
        using var takenOver = await Idempotent.UploadAsync(Admin, $"taken {abandoned}", Uploads.Text("runs"), abandoned);
        await takenOver.ShouldHaveStatusAsync(HttpStatusCode.Created);
        (await Idempotent.DocumentsTitledAsync(Tenant, $"taken {abandoned}")).ShouldBe(1);
    }

    [Fact]
    public async Task Keys_past_their_retention_are_deleted_and_free_for_a_new_request()
    {
        var key = Guid.NewGuid().ToString();
        using var first = await Idempotent.UploadAsync(Admin, $"kept {key}", Uploads.Text("first"), key);
        await first.ShouldHaveStatusAsync(HttpStatusCode.Created);

        // Retention 2 s, a cleanup pass every 0.5 s.
        await Idempotent.EventuallyAsync(async () =>
            await Idempotent.ScalarAsync(fixture.App, Tenant.Id, "SELECT count(*) FROM idempotency_keys WHERE key = @key", ("key", key)) == 0,
            "the cleanup deletes the expired key");

        using var reused = await Idempotent.UploadAsync(Admin, $"new {key}", Uploads.Text("another request"), key);
        await reused.ShouldHaveStatusAsync(HttpStatusCode.Created);
        Idempotent.WasReplayed(reused).ShouldBeFalse();
        (await Idempotent.DocumentsTitledAsync(Tenant, $"new {key}")).ShouldBe(1);
    }
}
