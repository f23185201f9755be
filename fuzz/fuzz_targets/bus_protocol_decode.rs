#![no_main]
use palisade_bus::protocol::{self, Ack, Heartbeat, Job, JobResult, RenewAnswer, RenewRequest};

fn round_trip<M: protocol::Message + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(m) = protocol::decode::<M>(data) {
        let bytes = protocol::encode(&m).expect("a decoded message encodes");
        assert_eq!(protocol::decode::<M>(&bytes).expect("and decodes again"), m);
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    round_trip::<Heartbeat>(data);
    round_trip::<Job>(data);
    round_trip::<JobResult>(data);
    round_trip::<Ack>(data);
    round_trip::<RenewRequest>(data);
    round_trip::<RenewAnswer>(data);
});
