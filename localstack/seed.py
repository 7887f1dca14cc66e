"""Creates the buckets and queues the platform uses, idempotently.

LocalStack gets the SQS queues (each with a dead-letter queue wired by a
RedrivePolicy) and the artifacts bucket; s3s-fs, the MinIO stand-in, gets the
bucket too. Run by seed.sh with the LocalStack venv's Python (it has boto3).
"""

import json
import os
import sys

import boto3
from botocore.config import Config

LOCALSTACK_URL = os.environ["LOCALSTACK_URL"]
S3S_URL = os.environ["S3S_URL"]
REGION = os.environ["AWS_REGION"]
BUCKETS = ["hive-artifacts"]
# No queues: `hive serve` with HIVE_BUS=sns creates the topic and one queue
# (with its dead-letter queue) per subscription itself, as the template
# declares them on AWS, and every test makes topics and queues of its own.
QUEUES = []


def client(service, endpoint, key, secret):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


def ensure_bucket(s3, name, where):
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    if name not in existing:
        s3.create_bucket(Bucket=name)
    print(f"[seed] bucket {name} on {where}", file=sys.stderr)


def ensure_queue(sqs, name, max_receives, visibility):
    # create_queue is idempotent for identical attributes; set_queue_attributes
    # brings an existing queue with older attributes up to date.
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {
        "VisibilityTimeout": str(visibility),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}),
    }
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    print(f"[seed] queue {url} -> dead letters to {dlq_url} after {max_receives} receives", file=sys.stderr)


def main():
    localstack_s3 = client("s3", LOCALSTACK_URL, "test", "test")
    s3s = client("s3", S3S_URL, os.environ["S3S_ACCESS_KEY"], os.environ["S3S_SECRET_KEY"])
    sqs = client("sqs", LOCALSTACK_URL, "test", "test")
    for bucket in BUCKETS:
        ensure_bucket(localstack_s3, bucket, "LocalStack")
        ensure_bucket(s3s, bucket, "s3s-fs")
    for name, max_receives, visibility in QUEUES:
        ensure_queue(sqs, name, max_receives, visibility)


if __name__ == "__main__":
    main()
