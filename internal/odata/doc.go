// Package odata is the HTTP client shared by the Microsoft Graph and
// Dataverse clients (and used by the Entra token client): authentication
// through a TokenSource, OData collection paging with checkpointable links,
// one retry policy (Retry-After, capped exponential backoff with full jitter,
// refresh-and-retry once after 401), bounded concurrency, request counters,
// and one error type that knows the three Microsoft error shapes.
//
// Every error a Client returns is a *sam.Error whose code classifies it
// (401 EUNAUTHORIZED, 403 EFORBIDDEN, 404 ENOTFOUND, other 4xx EINVALID,
// 429/5xx/network EUNAVAILABLE) and which wraps an *Error with the details;
// use AsError to get at them. Errors carry the method and the URL with secret
// query values redacted, never a token, a secret or a request body.
//
// See ../shared/docs/microsoft-apis.md for the services' behaviour.
package odata
