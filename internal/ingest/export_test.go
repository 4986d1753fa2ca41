package ingest

// Internals used by the external tests (the benchmark's floor reads the
// same pages as a sync).
var AuditsQuery = auditsQuery

const SystemUsersQuery = systemUsersQuery
