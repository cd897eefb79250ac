-- Seeds :n documents into tenant :tenant, set-based (generate_series), as the schema owner.
-- FORCE ROW LEVEL SECURITY holds the owner to the tenant policy too, so every statement runs with
-- app.tenant_id set to the tenant (as the app does), and rows of another tenant could not be written.
-- psql variables: n, tenant, admin (user id), member (user id), member_ws (workspace id).
--
-- Known answers (g = 1..n, the document's rank from newest to oldest):
--   title 'Quarterly report …'   g % 100 = 3      (1 %)    the phrase query "quarterly report"
--   title 'Quarterly review …'   g % 100 = 53     (1 %)    'quarterly' without the phrase
--   title contains 'contract'    g % 50 = 11      (2 %)    the typo query 'contrakt'
--   title contains 'invoice'     g % 5 = 0        (20 %)   the common word
--   'zephyrine' in the title     g % 5000 = 1777           the rare word (n/5000 titles)
--   'zephyrine' in the content   g % 5000 = 3777           only inside the extracted text
--   'zephyrine' in description   g % 5000 = 4777           only in the description
--   'xylophonic'                 never                     the no-hit query
--   status PendingDelete g % 1000 = 500, PendingReplace g % 2000 = 999, Deleted g % 200 = 77, else Active
--   document g = n (the oldest) is the only one in the member's workspace :member_ws
\set ON_ERROR_STOP on
\timing on
SET client_min_messages = warning;
SET maintenance_work_mem = '512MB';
SET work_mem = '64MB';

BEGIN;
SELECT set_config('app.tenant_id', :'tenant', true) \g /dev/null

-- Bulk load without per-row index maintenance: the plain (non-unique, non-constraint) indexes of the tables written
-- here, and of document_search when the search work has added it, are dropped and rebuilt at the end, whatever
-- main defines at the time. Unique indexes and constraints stay (keys, ON CONFLICT targets).
CREATE TEMP TABLE dropped_indexes ON COMMIT DROP AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND t.relname IN ('documents', 'document_versions', 'version_texts', 'document_search')
  AND NOT i.indisunique AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid);
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT name FROM dropped_indexes LOOP EXECUTE 'DROP INDEX ' || r.name; END LOOP;
END $$;

-- Word lists. Base words never include the words with known frequencies above.
CREATE TEMP TABLE vocab ON COMMIT DROP AS SELECT ARRAY[
  'annual','budget','forecast','summary','meeting','minutes','policy','procedure','agreement','proposal',
  'statement','plan','review','analysis','strategy','roadmap','presentation','memo','specification','requirements',
  'audit','compliance','risk','assessment','schedule','timeline','project','program','portfolio','account',
  'customer','supplier','vendor','partner','employee','payroll','benefits','training','onboarding','handbook',
  'purchase','order','receipt','expense','travel','claim','reimbursement','approval','request','ticket',
  'incident','change','release','deployment','architecture','design','prototype','test','results','metrics',
  'sales','marketing','campaign','brand','pricing','quote','estimate','tender','bid','renewal',
  'lease','property','facility','maintenance','inventory','warehouse','shipment','logistics','freight','customs',
  'tax','return','filing','ledger','balance','sheet','cash','flow','revenue','cost',
  'margin','profit','loss','capital','investment','board','resolution','charter','bylaws','governance',
  'legal','notice','letter','memorandum','amendment','addendum','appendix','exhibit','annex','draft',
  'final','signed','scanned','copy','template','form','checklist','guideline','standard','manual',
  'north','south','east','west','central','regional','global','europe','america','asia',
  'january','february','march','april','may','june','july','august','september','october','november','december',
  'q1','q2','q3','q4','2021','2022','2023','2024','2025','fy',
  'hr','it','finance','operations','security','privacy','gdpr','iso','sox','kpi',
  'team','department','office','branch','headquarters','site','plant','store','region','division',
  'update','status','overview','outline','brief','note','log','record','register','archive',
  'insurance','warranty','license','permit','certificate','inspection','safety','health','environment','sustainability',
  'research','development','innovation','patent','trademark','product','service','support','quality','feedback'
]::text[] AS w;

-- Per-document lookups go through joins on small pool tables, never through subscripts of big arrays (a toasted
-- array is detoasted on every access, which makes a seed of 2,000 documents take minutes).
-- (The "+ 0 * k" ties each aggregate to its own subquery: an aggregate over outer columns only would be the outer
-- query's.)
-- 65,536 phrases of 1–3 Zipf-distributed words (log-uniform over the word's rank): a title is two of them.
\echo seed: pools (phrases, sentences, paragraphs, tag sets)
CREATE TEMP TABLE phrases ON COMMIT DROP AS
SELECT i, (SELECT string_agg(v.w[floor(exp(random() * ln(array_length(v.w, 1) + 1)))::int + 0 * k], ' ')
           FROM generate_series(1, 1 + i % 3) k WHERE i IS NOT NULL) AS text
FROM generate_series(0, 65535) i, vocab v;
ALTER TABLE phrases ADD PRIMARY KEY (i);

-- 4,096 sentences of 12–20 words, and 4,096 paragraphs of 5 of them (~600 bytes): a version's extracted text is
-- two paragraphs (~1.2 KB, 16 million combinations), a description one or two sentences.
CREATE TEMP TABLE sentences ON COMMIT DROP AS
SELECT i, (SELECT initcap(string_agg(v.w[floor(exp(random() * ln(array_length(v.w, 1) + 1)))::int + 0 * k], ' ')) || '.'
           FROM generate_series(1, 12 + i % 9) k WHERE i IS NOT NULL) AS text
FROM generate_series(0, 4095) i, vocab v;
ALTER TABLE sentences ADD PRIMARY KEY (i);
CREATE TEMP TABLE paragraphs ON COMMIT DROP AS
SELECT p.n AS i, (SELECT string_agg(s.text, ' ') FROM generate_series(1, 5) k JOIN sentences s ON s.i = (p.n * 5 + k * 977) % 4096) AS text
FROM generate_series(0, 4095) AS p(n);
ALTER TABLE paragraphs ADD PRIMARY KEY (i);

-- Tags: 30 topics x 10 qualifiers = 300 distinct, ranked so that bare topics are the most used; 65,536 tag sets of
-- 0–3 tags drawn log-uniformly over the rank (Zipf-like: rank 1 ~12 % of draws, rank 300 ~0.06 %).
CREATE TEMP TABLE tagset ON COMMIT DROP AS
SELECT array_agg(t ORDER BY qi, ti) AS t FROM (
  SELECT CASE WHEN q = '' THEN topic ELSE topic || '-' || q END AS t, qi, ti
  FROM unnest(ARRAY['finance','legal','hr','sales','marketing','engineering','procurement','compliance','operations','it',
                    'security','facilities','research','product','support','logistics','tax','audit','board','strategy',
                    'partners','customers','vendors','payroll','training','quality','risk','treasury','investors','communications'])
       WITH ORDINALITY AS a(topic, ti),
       unnest(ARRAY['','2021','2022','2023','2024','2025','draft','final','internal','confidential']) WITH ORDINALITY AS b(q, qi)) x;
CREATE TEMP TABLE tagsets ON COMMIT DROP AS
SELECT i, coalesce((SELECT array_agg(DISTINCT t.t[floor(exp(random() * ln(array_length(t.t, 1) + 1)))::int + 0 * k])
                    FROM generate_series(1, i % 4) k WHERE i IS NOT NULL), '{}') AS tags
FROM generate_series(0, 65535) i, tagset t;
ALTER TABLE tagsets ADD PRIMARY KEY (i);

-- 18 workspaces besides the default one and the member's one; documents lean towards the first ones.
INSERT INTO workspaces (id, tenant_id, name, description, created_by)
SELECT gen_random_uuid(), :'tenant', name, 'Seeded by bench/scale', :'admin'
FROM unnest(ARRAY['Finance','Legal','Human Resources','Sales','Marketing','Engineering','Procurement','Compliance','Operations',
                  'IT','Security','Facilities','Research','Product','Support','Logistics','Board','Strategy']) name;

CREATE TEMP TABLE ws ON COMMIT DROP AS
SELECT array_agg(id ORDER BY is_default DESC, name) AS ids FROM workspaces WHERE tenant_id = :'tenant' AND id <> :'member_ws';

-- One row per document with every random choice made once (the h* columns pick pool rows).
\echo seed: per-document choices
CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT g, gen_random_uuid() AS id,
       CASE WHEN g = :n THEN :'member_ws'::uuid
            ELSE ws.ids[1 + floor(array_length(ws.ids, 1) * random() ^ 2)::int] END AS workspace_id,
       floor(random() * 20)::int AS kind,
       CASE WHEN g % 10 = 4 THEN 2 ELSE 1 END AS versions,
       -- newest first, spread over three years, a second's jitter so timestamps rarely tie
       now() - (g * (interval '3 years' / :n)) - random() * interval '1 second' AS created_at,
       floor(random() * 65536)::int AS h_title1, floor(random() * 65536)::int AS h_title2,
       floor(random() * 65536)::int AS h_tags, floor(random() * 4096)::int AS h_desc1, floor(random() * 4096)::int AS h_desc2
FROM generate_series(1, :n) g, ws;

\echo seed: documents
INSERT INTO documents (id, tenant_id, workspace_id, title, description, status, tags, current_version, created_at, created_by,
                       updated_at, updated_by, deleted_at, deleted_by)
SELECT s.id, :'tenant', s.workspace_id,
       left(
         CASE WHEN s.g % 100 = 3 THEN 'Quarterly report ' WHEN s.g % 100 = 53 THEN 'Quarterly review ' ELSE '' END
         || initcap(t1.text || ' ' || t2.text)
         || CASE WHEN s.g % 50 = 11 THEN ' contract' ELSE '' END
         || CASE WHEN s.g % 5 = 0 THEN ' invoice' ELSE '' END
         || CASE WHEN s.g % 5000 = 1777 THEN ' zephyrine' ELSE '' END
         || ' ' || (2021 + s.g % 5), 300),
       CASE WHEN s.g % 5000 = 4777 THEN 'Notes on the zephyrine account.'
            WHEN s.g % 10 < 2 THEN d1.text
            WHEN s.g % 10 = 2 THEN d1.text || ' ' || d2.text END,
       CASE WHEN s.g % 1000 = 500 THEN 'PendingDelete' WHEN s.g % 2000 = 999 THEN 'PendingReplace'
            WHEN s.g % 200 = 77 THEN 'Deleted' ELSE 'Active' END,
       tg.tags, s.versions, s.created_at, :'admin', s.created_at, :'admin',
       CASE WHEN s.g % 200 = 77 THEN s.created_at + interval '1 day' END,
       CASE WHEN s.g % 200 = 77 THEN :'admin'::uuid END
FROM seed s
JOIN phrases t1 ON t1.i = s.h_title1 JOIN phrases t2 ON t2.i = s.h_title2 JOIN tagsets tg ON tg.i = s.h_tags
JOIN sentences d1 ON d1.i = s.h_desc1 JOIN sentences d2 ON d2.i = s.h_desc2;

CREATE TEMP TABLE kinds ON COMMIT DROP AS
SELECT * FROM (VALUES
  (0, 'application/pdf', '.pdf', 'pdftotext'), (1, 'application/pdf', '.pdf', 'pdftotext'), (2, 'application/pdf', '.pdf', 'pdftotext'),
  (3, 'application/pdf', '.pdf', 'pdftotext'), (4, 'application/pdf', '.pdf', 'pdftotext'), (5, 'application/pdf', '.pdf', 'pdftotext'),
  (6, 'application/pdf', '.pdf', 'pdftotext'), (7, 'application/pdf', '.pdf', 'ocr'), (8, 'application/pdf', '.pdf', 'pdftotext'),
  (9, 'application/pdf', '.pdf', 'pdftotext'),
  (10, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', '.docx', 'office'),
  (11, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', '.docx', 'office'),
  (12, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', '.docx', 'office'),
  (13, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', '.docx', 'office'),
  (14, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', '.xlsx', 'office'),
  (15, 'image/png', '.png', 'ocr'), (16, 'image/png', '.png', 'ocr'), (17, 'image/jpeg', '.jpg', 'ocr'),
  (18, 'text/plain', '.txt', 'plain'), (19, 'text/plain', '.txt', 'plain')) k(kind, content_type, ext, method);

-- One row per version (10 % of documents have two; the second is current).
CREATE TEMP TABLE vseed ON COMMIT DROP AS
SELECT s.g, s.id AS document_id, nr, s.versions, s.kind, s.created_at + (nr - 1) * interval '1 hour' AS created_at,
       floor(random() * 4096)::int AS h_text1, floor(random() * 4096)::int AS h_text2
FROM seed s, generate_series(1, s.versions) nr;

\echo seed: document_versions
INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_at, created_by)
SELECT gen_random_uuid(), :'tenant', v.document_id, v.nr, :'tenant' || '/' || v.document_id || '/' || v.nr,
       -- 1 KB to ~3 MB, log-uniform; text files smaller
       floor(1000 * exp(random() * CASE WHEN k.ext = '.txt' THEN 5 ELSE 8 END))::bigint,
       md5(v.document_id::text || v.nr) || md5(v.nr || v.document_id::text), k.content_type,
       'document-' || v.g || k.ext, v.created_at, :'admin'
FROM vseed v JOIN kinds k USING (kind);

-- ~1.2 KB of text per version, as the extraction handler leaves it.
\echo seed: version_texts
-- The search trigger would re-parse each text in its own UPDATE; one set-based UPDATE after the insert does the same.
ALTER TABLE version_texts DISABLE TRIGGER version_texts_search;
INSERT INTO version_texts (tenant_id, document_id, version_number, status, method, content, truncated, created_at, extracted_at)
SELECT :'tenant', v.document_id, v.nr, 'Extracted', k.method,
       p1.text || ' ' || p2.text || CASE WHEN v.g % 5000 = 3777 AND v.nr = v.versions THEN ' The zephyrine clause applies.' ELSE '' END,
       false, v.created_at, v.created_at + interval '30 seconds'
FROM vseed v JOIN kinds k USING (kind) JOIN paragraphs p1 ON p1.i = v.h_text1 JOIN paragraphs p2 ON p2.i = v.h_text2;
ALTER TABLE version_texts ENABLE TRIGGER version_texts_search;
\echo seed: search index of the texts
UPDATE document_search s SET all_tsv = s.all_tsv || setweight(to_tsvector(s.config, left(t.content, 1000000)), 'D')
FROM documents d JOIN version_texts t ON t.tenant_id = d.tenant_id AND t.document_id = d.id AND t.version_number = d.current_version
WHERE s.tenant_id = :'tenant' AND d.tenant_id = :'tenant' AND d.id = s.document_id AND t.content IS NOT NULL;

-- The member reads exactly one workspace: the small one holding the oldest document (not the default workspace,
-- which new members join automatically).
DELETE FROM workspace_members WHERE tenant_id = :'tenant' AND user_id = :'member';
INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role, created_by)
VALUES (:'tenant', :'member_ws', :'member', 'Viewer', :'admin');

\echo seed: rebuilding the dropped indexes
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT def FROM dropped_indexes LOOP EXECUTE r.def; END LOOP;
END $$;
COMMIT;
