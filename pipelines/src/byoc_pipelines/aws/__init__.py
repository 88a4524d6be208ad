"""Where AWS is called, always through clients passed in: deploy, policies, executions, ECR push, endpoints."""
