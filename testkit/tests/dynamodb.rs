//! The embedded DynamoDB server through the real SDK: a lease-table-shaped table and the
//! conditional writes the KCL relies on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)] // test code: a broken expectation panics

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use testkit::LocalAws;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_are_fenced() {
    let aws = LocalAws::start().await.unwrap();
    let db = aws.dynamodb_client();
    db.create_table()
        .table_name("app")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("leaseKey")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("leaseKey")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let create = || {
        db.put_item()
            .table_name("app")
            .item("leaseKey", s("shardId-000000000000"))
            .item("leaseCounter", n(0))
            .item("checkpoint", s("TRIM_HORIZON"))
            .condition_expression("attribute_not_exists(leaseKey)")
    };
    create().send().await.unwrap();
    let again = create().send().await.unwrap_err();
    assert!(
        again
            .into_service_error()
            .is_conditional_check_failed_exception()
    );

    // Take the lease: fenced on the counter we saw.
    let take = |seen: i64, owner: &'static str| {
        db.update_item()
            .table_name("app")
            .key("leaseKey", s("shardId-000000000000"))
            .update_expression("SET leaseOwner = :owner, leaseCounter = leaseCounter + :one")
            .condition_expression("leaseCounter = :seen")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":seen", n(seen))
    };
    take(0, "worker-a").send().await.unwrap();
    let stale = take(0, "worker-b").send().await.unwrap_err();
    assert!(
        stale
            .into_service_error()
            .is_conditional_check_failed_exception()
    );

    let item = db
        .get_item()
        .table_name("app")
        .key("leaseKey", s("shardId-000000000000"))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["leaseOwner"], s("worker-a"));
    assert_eq!(item["leaseCounter"], n(1));
}
