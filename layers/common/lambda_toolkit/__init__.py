"""lambda_toolkit: what every function of lambda-suite shares, shipped as the CommonLayer.

observability  Powertools Logger, Tracer and Metrics, created once
config         environment-variable models validated at cold start
aws_clients    the one boto3 client/resource factory (endpoints from AWS_ENDPOINT_URL, never hard-coded)
errors         PermanentError (bad input: never retry) vs TransientError (retry)
batch          deadline-aware batch processing with partial batch responses
parallel_map   a Process + Pipe parallel map that works where /dev/shm does not exist
"""
