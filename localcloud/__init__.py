"""The local cloud: lambda-suite's template deployed to moto in server mode, with event source
mapping pollers, Lambda invokers and Step Functions executions, so the whole suite runs offline with
the real trigger semantics. Dev tooling only: nothing here is deployed, and no function imports it.
"""
