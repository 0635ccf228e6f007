//! `ObjectBlobStore` against a real S3 API: a local `moto_server` on loopback (see testkit `moto`).

#![expect(clippy::unwrap_used, reason = "tests")]

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use researchops_blobs::ObjectBlobStore;
use researchops_core::{BlobStore, StoreError};
use researchops_testkit::moto::Moto;
use std::sync::Arc;

fn s3(port: u16, bucket: &str) -> Arc<dyn object_store::ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_allow_http(true)
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn blobs_round_trip_through_an_s3_api_and_are_stored_once() {
    let moto = Moto::start();
    moto.create_bucket("ro-blobs");
    let blobs = ObjectBlobStore::new(s3(moto.port, "ro-blobs"), "researchops");
    let report = Bytes::from("# A report\n\nWith a sentence. [1]\n".repeat(1000));
    let info = blobs.put(report.clone()).await.unwrap();
    assert_eq!(info.size_bytes, report.len() as u64);
    assert_eq!(blobs.get(&info.sha256).await.unwrap(), report);
    assert_eq!(
        blobs.get_range(&info.sha256, 2..10).await.unwrap(),
        report.slice(2..10)
    );
    assert_eq!(
        blobs.put(report.clone()).await.unwrap(),
        info,
        "the same bytes are one blob"
    );
    assert!(matches!(
        blobs.get(&"f".repeat(64)).await,
        Err(StoreError::NotFound)
    ));
    // A second store on the same bucket (another node) sees the blob.
    let other = ObjectBlobStore::new(s3(moto.port, "ro-blobs"), "researchops/");
    assert_eq!(other.get(&info.sha256).await.unwrap(), report);
}

#[tokio::test]
async fn a_missing_bucket_is_a_clear_error_not_a_panic() {
    let moto = Moto::start();
    let blobs = ObjectBlobStore::new(s3(moto.port, "no-such-bucket"), "");
    let err = blobs.put(Bytes::from_static(b"x")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unavailable(_) | StoreError::NotFound | StoreError::Internal(_)
        ),
        "{err}"
    );
    assert!(
        !err.to_string().contains("test"),
        "no credentials in the error: {err}"
    );
}
