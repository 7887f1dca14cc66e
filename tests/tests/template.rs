//! The SAM template and the code declare the same bus, both ways: every
//! subscription an app registers (`SUBSCRIPTIONS`) has, in
//! infra/template.yaml, a queue with a dead-letter queue, a queue policy
//! that lets only the events topic send, an SNS subscription with raw
//! delivery and a filter policy naming exactly its events, and a function
//! whose binary is the subscription's name consuming that queue; and the
//! template has no subscription, subscribed queue or SQS-fed function that
//! no app registered.

use std::collections::{BTreeMap, BTreeSet};

use yaml_rust2::{Yaml, YamlLoader};

const TEMPLATE: &str = include_str!("../../infra/template.yaml");

/// Every app's subscriptions. A new app that consumes events adds its list
/// here, beside its `.register(..)` line in `hive serve`.
fn registered() -> BTreeMap<String, BTreeSet<String>> {
    [ecosystemiser::SUBSCRIPTIONS, orchestrator::SUBSCRIPTIONS, guardian::SUBSCRIPTIONS, reviewer::SUBSCRIPTIONS, notifications::SUBSCRIPTIONS, planner::SUBSCRIPTIONS]
        .into_iter()
        .flatten()
        .map(|s| (s.name.to_owned(), s.events.iter().map(|e| e.as_str().to_owned()).collect()))
        .collect()
}

fn resources() -> BTreeMap<String, Yaml> {
    let docs = YamlLoader::load_from_str(TEMPLATE).expect("the template is YAML");
    let resources = docs[0]["Resources"].as_hash().expect("Resources");
    resources.iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone())).collect()
}

/// `!GetAtt X.Arn` and `!Ref X` arrive from yaml-rust2 as the plain
/// strings `X.Arn` and `X` (tags are dropped), so a reference is its text.
fn referenced(value: &Yaml) -> Option<String> {
    let text = value.as_str()?;
    Some(text.trim_end_matches(".Arn").to_owned())
}

fn of_type<'a>(resources: &'a BTreeMap<String, Yaml>, kind: &str) -> Vec<(&'a String, &'a Yaml)> {
    resources.iter().filter(|(_, r)| r["Type"].as_str() == Some(kind)).collect()
}

/// What the template says each subscription is: its name (the consuming
/// function's binary) and its filter's events.
fn declared(resources: &BTreeMap<String, Yaml>) -> BTreeMap<String, BTreeSet<String>> {
    let mut declared = BTreeMap::new();
    for (id, subscription) in of_type(resources, "AWS::SNS::Subscription") {
        let properties = &subscription["Properties"];
        assert_eq!(properties["Protocol"].as_str(), Some("sqs"), "{id}");
        assert_eq!(properties["RawMessageDelivery"].as_bool(), Some(true), "{id}: raw delivery keeps the attributes");
        assert_eq!(referenced(&properties["TopicArn"]).as_deref(), Some("EventsTopic"), "{id}");
        let queue = referenced(&properties["Endpoint"]).unwrap_or_else(|| panic!("{id}: no endpoint"));
        let events: BTreeSet<String> = properties["FilterPolicy"]["hive-event-type"]
            .as_vec()
            .unwrap_or_else(|| panic!("{id}: no filter policy on hive-event-type"))
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect();
        check_queue(resources, &queue);
        let consumer = consumer_of(resources, &queue).unwrap_or_else(|| panic!("{id}: no function consumes {queue}"));
        assert!(declared.insert(consumer.clone(), events).is_none(), "{consumer} is subscribed twice");
    }
    declared
}

/// The queue has a DLQ and a policy that admits only the topic.
fn check_queue(resources: &BTreeMap<String, Yaml>, queue: &str) {
    let properties = &resources[queue]["Properties"];
    let dlq = referenced(&properties["RedrivePolicy"]["deadLetterTargetArn"]).unwrap_or_else(|| panic!("{queue}: no DLQ"));
    assert_eq!(resources[&dlq]["Type"].as_str(), Some("AWS::SQS::Queue"), "{queue}'s DLQ");
    let policy = of_type(resources, "AWS::SQS::QueuePolicy")
        .into_iter()
        .find(|(_, p)| p["Properties"]["Queues"].as_vec().is_some_and(|q| q.iter().any(|q| referenced(q).as_deref() == Some(queue))))
        .unwrap_or_else(|| panic!("{queue}: no queue policy"));
    let statement = &policy.1["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(statement["Action"].as_str(), Some("sqs:SendMessage"));
    assert_eq!(referenced(&statement["Condition"]["ArnEquals"]["aws:SourceArn"]).as_deref(), Some("EventsTopic"));
}

/// The binary of the function whose SQS event reads `queue`.
fn consumer_of(resources: &BTreeMap<String, Yaml>, queue: &str) -> Option<String> {
    sqs_functions(resources).into_iter().find(|(_, q)| q == queue).map(|(binary, _)| binary)
}

/// (binary, queue) for every function fed by SQS.
fn sqs_functions(resources: &BTreeMap<String, Yaml>) -> Vec<(String, String)> {
    let mut fed = Vec::new();
    for (id, function) in of_type(resources, "AWS::Serverless::Function") {
        let Some(events) = function["Properties"]["Events"].as_hash() else { continue };
        for event in events.values().filter(|e| e["Type"].as_str() == Some("SQS")) {
            let binary = function["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_else(|| panic!("{id}: no binary"));
            let queue = referenced(&event["Properties"]["Queue"]).unwrap_or_else(|| panic!("{id}: no queue"));
            fed.push((binary.to_owned(), queue));
        }
    }
    fed
}

#[test]
fn the_template_declares_exactly_the_registered_subscriptions() {
    let resources = resources();
    assert_eq!(declared(&resources), registered(), "template (left) against the apps' registrations (right)");
}

#[test]
fn every_sqs_fed_function_is_a_subscription_and_no_queue_is_shared() {
    let resources = resources();
    let fed = sqs_functions(&resources);
    let queues: BTreeSet<&String> = fed.iter().map(|(_, q)| q).collect();
    assert_eq!(queues.len(), fed.len(), "two functions share a queue: they would compete for its messages");
    let registered = registered();
    for (binary, _) in &fed {
        assert!(registered.contains_key(binary), "{binary} is fed by SQS but registers no subscription");
    }
    // Every queue is a subscription's or a dead-letter queue.
    let subscribed: BTreeSet<String> = of_type(&resources, "AWS::SNS::Subscription")
        .iter()
        .filter_map(|(_, s)| referenced(&s["Properties"]["Endpoint"]))
        .collect();
    let dead_letters: BTreeSet<String> = subscribed
        .iter()
        .filter_map(|q| referenced(&resources[q]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]))
        .collect();
    for (id, _) in of_type(&resources, "AWS::SQS::Queue") {
        assert!(subscribed.contains(id) || dead_letters.contains(id), "{id} is neither a subscription nor its DLQ");
    }
}

#[test]
fn only_the_events_topic_exists_and_publishers_may_publish_to_it_alone() {
    let resources = resources();
    let topics: Vec<&String> = of_type(&resources, "AWS::SNS::Topic").into_iter().map(|(id, _)| id).collect();
    assert_eq!(topics, ["EventsTopic"]);
    // Inline policies, and the managed ones functions share by reference.
    let managed = of_type(&resources, "AWS::IAM::ManagedPolicy")
        .into_iter()
        .map(|(id, policy)| (id, vec![policy["Properties"]["PolicyDocument"].clone()]));
    let inline = of_type(&resources, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, function)| (id, function["Properties"]["Policies"].as_vec().cloned().unwrap_or_default()));
    for (id, policies) in inline.chain(managed) {
        for statement in policies.iter().flat_map(|p| p["Statement"].as_vec().cloned().unwrap_or_default()) {
            let actions: Vec<String> = match &statement["Action"] {
                Yaml::String(a) => vec![a.clone()],
                Yaml::Array(a) => a.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            };
            if actions.iter().any(|a| a.starts_with("sns:")) {
                assert_eq!(referenced(&statement["Resource"]).as_deref(), Some("EventsTopic"), "{id}: {actions:?}");
                assert!(actions.iter().all(|a| a == "sns:Publish" || a == "sns:GetTopicAttributes"), "{id}: {actions:?}");
            }
        }
    }
}

/// Every variable Guardian's settings read is set on a Guardian function,
/// from a parameter; the secret ones from a `NoEcho` parameter.
#[test]
fn guardians_github_variables_are_declared_and_its_secrets_are_no_echo() {
    let asked = std::cell::RefCell::new(BTreeSet::new());
    guardian::Settings::from_vars(|name| {
        asked.borrow_mut().insert(name.to_owned());
        None
    })
    .expect("the defaults are valid");
    let asked = asked.into_inner();
    assert!(asked.contains("HIVE_GITHUB_WEBHOOK_SECRET") && asked.contains("HIVE_GITHUB_TOKEN"), "{asked:?}");
    let docs = YamlLoader::load_from_str(TEMPLATE).expect("the template is YAML");
    let parameters = &docs[0]["Parameters"];
    let resources = resources();
    let mut set = BTreeMap::new();
    for function in ["GuardianApiFunction", "GuardianWorkerFunction"] {
        let variables = resources[function]["Properties"]["Environment"]["Variables"].as_hash().cloned().unwrap_or_default();
        for (name, value) in variables {
            set.insert(name.as_str().unwrap().to_owned(), referenced(&value).unwrap_or_default());
        }
    }
    for name in &asked {
        let parameter = set.get(name).unwrap_or_else(|| panic!("{name} is read but set on no Guardian function"));
        assert!(!parameters[parameter.as_str()].is_badvalue(), "{name}: {parameter} is not a parameter");
        if name.contains("SECRET") || name.contains("TOKEN") {
            assert_eq!(parameters[parameter.as_str()]["NoEcho"].as_bool(), Some(true), "{name}: {parameter} must be NoEcho");
        }
    }
}
