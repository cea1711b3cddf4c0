"""The moto server of the local cloud: start, answer, stop; Step Functions executing; invokes routed."""

from __future__ import annotations

import io
import json
import socket
import zipfile
from pathlib import Path

import pytest

from localcloud.aws.clients import LocalAws
from localcloud.aws.endpoint import EndpointError, MotoEndpoint, free_port, is_healthy, port_in_use
from localcloud.stepfunctions.executions import run_execution

pytestmark = pytest.mark.localcloud


def test_the_endpoint_starts_answers_and_stops(tmp_path: Path) -> None:
    # Given a free port
    endpoint = MotoEndpoint(port=free_port(), log_path=tmp_path / "moto.log")

    # When the endpoint starts
    endpoint.start()
    try:
        # Then moto answers on it
        assert is_healthy(endpoint.url)
        sqs = LocalAws(endpoint.url, "us-east-1").sqs
        assert sqs.create_queue(QueueName="probe")["QueueUrl"].endswith("/probe")
    finally:
        endpoint.stop()

    # Then, stopped, nothing listens there any more
    assert not port_in_use(endpoint.port)
    assert not is_healthy(endpoint.url)


def test_the_endpoint_refuses_a_port_that_is_taken(tmp_path: Path) -> None:
    # Given something listening on a port
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        # When an endpoint is started there, Then it says so instead of failing obscurely
        with pytest.raises(EndpointError, match=f"port {port} is already in use"):
            MotoEndpoint(port=port, log_path=tmp_path / "moto.log").start()


@pytest.fixture(scope="module")
def bare_endpoint(tmp_path_factory: pytest.TempPathFactory) -> LocalAws:
    endpoint = MotoEndpoint(port=free_port(), log_path=tmp_path_factory.mktemp("endpoint") / "moto.log").start()
    yield LocalAws(endpoint.url, "us-east-1")  # type: ignore[misc]
    endpoint.stop()


def test_step_functions_executions_really_run(bare_endpoint: LocalAws) -> None:
    # Given a state machine whose output only an interpreter can produce
    definition = {"StartAt": "Answer", "States": {"Answer": {
        "Type": "Pass", "Parameters": {"answer.$": "States.MathAdd($.base, 2)"}, "End": True}}}
    machine = bare_endpoint.stepfunctions.create_state_machine(
        name="interpreted", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]

    # When it is executed
    outcome = run_execution(bare_endpoint.stepfunctions, machine, {"base": 40}, timeout_s=30)

    # Then moto's ASL interpreter ran it (without execute_state_machine moto returns no output)
    assert outcome.status == "SUCCEEDED"
    assert outcome.output == {"answer": 42}


def test_a_lambda_invoke_without_a_running_cloud_is_a_function_error_not_a_docker_run(bare_endpoint: LocalAws) -> None:
    # Given a function registered with moto, and no local cloud attached to this endpoint
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    role = bare_endpoint.client("iam").create_role(
        RoleName="orphan-role", AssumeRolePolicyDocument=json.dumps({"Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    bare_endpoint.lambda_client.create_function(
        FunctionName="orphan", Runtime="python3.13", Role=role,
        Handler="app.lambda_handler", Code={"ZipFile": archive.getvalue()},
    )

    # When it is invoked through the Lambda API
    response = bare_endpoint.lambda_client.invoke(FunctionName="orphan", Payload=b"{}")

    # Then moto's routed invoke answers with Lambda's error shape at once
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "LocalCloudNotRunning"


def test_a_cancelled_transaction_leaves_the_table_and_its_stream_as_they_were(bare_endpoint: LocalAws) -> None:
    # Given a table with a stream and one item (the server's cheaper rollback copy is what this checks)
    dynamodb = bare_endpoint.dynamodb
    stream_arn = dynamodb.create_table(
        TableName="ledger", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    dynamodb.put_item(TableName="ledger", Item={"pk": {"S": "a"}, "amount": {"N": "1"}})
    records_before = _stream_records(bare_endpoint, stream_arn)

    # When a transaction updates that item, adds another, and fails its last condition
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "ledger", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET amount = :t",
                        "ExpressionAttributeValues": {":t": {"N": "2"}}}},
            {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "b"}, "amount": {"N": "5"}}}},
            {"ConditionCheck": {"TableName": "ledger", "Key": {"pk": {"S": "missing"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])

    # Then nothing of it happened: the item is unchanged, the other absent, and no stream record was added
    items = dynamodb.scan(TableName="ledger", ConsistentRead=True)["Items"]
    assert items == [{"pk": {"S": "a"}, "amount": {"N": "1"}}]
    assert _stream_records(bare_endpoint, stream_arn) == records_before
    # And a transaction that succeeds still writes both
    dynamodb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "ledger", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET amount = :t",
                    "ExpressionAttributeValues": {":t": {"N": "3"}}}},
        {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "c"}, "amount": {"N": "7"}}}},
    ])
    totals = {i["pk"]["S"]: i["amount"]["N"] for i in dynamodb.scan(TableName="ledger", ConsistentRead=True)["Items"]}
    assert totals == {"a": "3", "c": "7"}


def _stream_records(aws: LocalAws, stream_arn: str) -> list[str]:
    streams = aws.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return [record["dynamodb"]["SequenceNumber"] for record in streams.get_records(ShardIterator=iterator)["Records"]]
