// Validates the custom resources in the given YAML files with @kubernetes-models validators (generated from the upstream CRDs).
import fs from "node:fs";
import * as yaml from "js-yaml";
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { Rollout, AnalysisTemplate } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1";
import { PrometheusRule, PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
const kinds = { ScaledObject, TriggerAuthentication, Rollout, AnalysisTemplate, PrometheusRule, PodMonitor };
let n = 0, bad = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    const K = kinds[doc?.kind];
    if (!K) continue;
    n++;
    try { new K(doc).validate(); } catch (e) { bad++; console.log(file, doc.kind, doc.metadata.name, e.message.slice(0, 400)); }
  }
}
console.log(`${n} custom resources checked against @kubernetes-models validators, ${bad} invalid`);
process.exit(bad ? 1 : 0);
