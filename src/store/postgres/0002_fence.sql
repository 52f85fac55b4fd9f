-- checkuser team mode, schema version 2: claims carry a fencing token and stay, answered, so
-- that a run that joined before an answer was recorded never asks that key again.
CREATE SEQUENCE IF NOT EXISTS checkuser_claim_token;
ALTER TABLE claims ADD COLUMN IF NOT EXISTS token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE claims ADD COLUMN IF NOT EXISTS answered_at TIMESTAMPTZ;
