"""The Specter API: the client (signing, latin-1, HTTP, the whole-answer deadline), the protocol tables,
the parsing of answers into typed records, and the typed errors. Imports nothing else of the package."""
