// The library and the installed extension must be the same version: a library
// of another version would read and write tables of a shape it does not know.
#pragma once

namespace pgj::pg {

// The version this library was built as (pg_journey.control's default_version).
const char* library_version();

// Raises an error (0A000, with a hint to run ALTER EXTENSION pg_journey UPDATE)
// when the installed extension is of another version than the library. Checked
// once, and again after journey.enrollments was dropped (DROP EXTENSION); skipped while CREATE or
// ALTER EXTENSION runs a script. A plain PostgreSQL call: it may ereport, so call it where no C++
// object lives.
void require_extension_version();

// The installed extension's version, or null when pg_journey is not installed.
// Allocated in the current memory context. May ereport.
char* installed_extension_version();

}  // namespace pgj::pg
