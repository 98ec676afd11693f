DROP TABLE idempotent_replies;
DROP TABLE audit_log;
DROP TABLE tokens;
