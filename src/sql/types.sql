-- Types: the enums of the public API.

CREATE TYPE journey.journey_state AS ENUM ('draft', 'published', 'paused', 'archived');

CREATE TYPE journey.step_type AS ENUM (
  'send_email', 'send', 'delay', 'wait_for_event', 'wait_until', 'condition', 'branch',
  'split', 'update_field', 'call', 'goal', 'exit');

CREATE TYPE journey.enrollment_status AS ENUM ('active', 'completed', 'exited', 'failed');

CREATE TYPE journey.version_status AS ENUM ('draft', 'published', 'retired');
