-- A direct upload can go into a document type (issue 16 item 1, "set on upload"): the type and field values are given
-- when the session is created, checked then, and applied when it completes. No foreign key on type_id: a type deleted
-- while the bytes travel is refused at completion by the same check (document.unknown_type), not by a constraint error.
ALTER TABLE upload_sessions ADD COLUMN type_id uuid;
ALTER TABLE upload_sessions ADD COLUMN fields jsonb;
