"""OpenID Connect sign-in: the provider client, accounts linked by (issuer, sub), provider-owned groups.

Rights never come from here: groups a provider names are kept apart from the local ones (an IdP
group called "Operators" is not the Operators role) and count only where a policy names them.
"""
