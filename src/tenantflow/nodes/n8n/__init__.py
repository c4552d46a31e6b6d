"""n8n's node types, with n8n's type names and typeVersions: core, flow, data, code, HTTP and triggers."""
