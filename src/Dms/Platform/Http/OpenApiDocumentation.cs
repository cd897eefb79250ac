using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Dms.Platform.Http;

/// <summary>
/// What makes the served OpenAPI document read like documentation: the title, the modules as tags in reading order
/// (the signed-storage endpoints last, as internal), and the error shape every operation shares.
/// </summary>
internal static class OpenApiDocumentation
{
    private const string ProblemSchema = "Problem";

    /// <summary>Tags in the order a reader meets them, with what each covers. Modules name their endpoints' tag.</summary>
    private static readonly (string Name, string Description)[] Tags =
    [
        ("Auth", "Signing in and out, tokens, your own account and password."),
        ("Users", "The tenant's user accounts (admins)."),
        ("Groups", "Groups of the tenant's users, named as approvers by approval policies: admins manage them, everyone in the tenant lists them."),
        ("Workspaces", "Workspaces and their members: who may read and change what."),
        ("Folders", "Folders inside a workspace."),
        ("Documents", "Upload, list, search, read, download and edit documents."),
        ("Document types", "Document types and their typed custom fields: admins define them, everyone in the tenant reads them."),
        ("Comments", "Comments on documents, with @mentions: readers post, authors edit and delete their own, admins moderate."),
        ("Bulk jobs", "One action over many documents (tags, delete requests, a ZIP…) run in the background, with progress and a result per document."),
        ("Views", "Saved views: named list filters, private or shared with the tenant, pinned to your home page with capped counts."),
        ("Uploads", "Direct uploads: the client sends the bytes to a signed URL, then completes the session."),
        ("Approvals", "Delete and replace requests and their decisions; approved requests run exactly once."),
        ("Retention", "Trash, restore and legal hold."),
        ("Notifications", "Your in-app notifications and how you get them (in the app, by e-mail, a daily digest)."),
        ("Webhooks", "Signed HTTP callbacks to other systems: endpoints, their delivery log, test events and replays (admins)."),
        ("Audit", "The tenant's tamper-evident audit trail: list, export, verify."),
        ("Operations", "Background work that needs an admin (dead messages)."),
        ("Billing", "The tenant's usage against its plan and its subscription's state; the billing provider's signed webhook."),
        ("Platform", "Platform operators: tenants (platform key)."),
        ("Storage", "Internal: the signed URLs that upload and download responses hand out (filesystem storage). Clients never build these."),
    ];

    public static void Configure(OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "DMS Enterprise API",
                Version = "v1",
                Description = "DMS Enterprise: documents, approvals, audit. Every error is RFC 9457 problem+json with a stable `code` " +
                    "(see the `Problem` schema); ids are UUIDs; lists are keyset-paginated with `cursor` and `limit`.",
            };
            document.Tags = new HashSet<OpenApiTag>(Tags.Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }));
            document.Components ??= new OpenApiComponents();
            document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
            document.Components.Schemas[ProblemSchema] = Problem();
            // Lets the browsable UI's "Authorize" button send the access token from /api/v1/auth/login.
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["Bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "JWT",
                Description = "Access token from POST /api/v1/auth/login, or a personal API token (dms_pat_…).",
            };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("Bearer", document)] = [] }];
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            operation.Responses ??= new OpenApiResponses();
            // Endpoints declare the problems they answer; every one may answer some, in this one shape.
            if (!operation.Responses.ContainsKey("default"))
            {
                operation.Responses["default"] = new OpenApiResponse
                {
                    Description = "A problem: 4xx for the request, 5xx for the server. The `code` says which; it is stable.",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/problem+json"] = new() { Schema = new OpenApiSchemaReference(ProblemSchema, context.Document) },
                    },
                };
            }
            return Task.CompletedTask;
        });
    }

    private static OpenApiSchema Problem() => new()
    {
        Type = JsonSchemaType.Object,
        Description = "RFC 9457 problem details with a stable machine-readable `code`.",
        Required = new HashSet<string> { "type", "title", "status", "code", "traceId" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "https://dms.example/problems/{code}" },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "What went wrong, in words for people." },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Description = "The HTTP status code." },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String | JsonSchemaType.Null, Description = "More about this occurrence." },
            ["instance"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The request path." },
            ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Stable error code, e.g. document.not_found, approval.already_pending, validation.failed." },
            ["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Quote it when reporting a problem." },
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "For validation.failed: the messages per field.",
                AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            },
        },
        Examples =
        [
            JsonNode.Parse("""
            {"type":"https://dms.example/problems/approval.already_pending","title":"The document already has an open request; it must be decided first.",
             "status":409,"instance":"/api/v1/documents/0193a5c2-7f1e-7c3a-9f4e-2b8d1c6e5a01/delete-requests","code":"approval.already_pending",
             "traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}
            """)!,
        ],
    };
}
