"""Accounts: users and their scope, access tokens, tablets and their enrolment."""
