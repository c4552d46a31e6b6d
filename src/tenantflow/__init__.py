"""tenantflow: multi-tenant workflow automation."""
