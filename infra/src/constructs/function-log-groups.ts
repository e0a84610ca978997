import { CfnResource } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/**
 * Gives every Lambda function under `scope` that has no log group of its own (the handlers CDK
 * adds for bucket notifications and for the VPC's default security group) one with `retention`.
 * Left alone, Lambda would create their groups on first run, kept forever and outside the stack.
 * Call it once the scope is complete.
 */
export function giveFunctionsLogGroups(scope: Construct, retention: logs.RetentionDays): void {
  for (const node of scope.node.findAll()) {
    if (!(node instanceof CfnResource) || node.cfnResourceType !== 'AWS::Lambda::Function') continue;
    // Functions built with an L2 construct say whether they have one; CDK's internal handlers are
    // plain CfnResources that never do.
    if (node instanceof lambda.CfnFunction && node.loggingConfig !== undefined) continue;
    const logGroup = new logs.LogGroup(node.node.scope as Construct, `${node.node.id}LogGroup`, { retention });
    node.addPropertyOverride('LoggingConfig.LogGroup', logGroup.logGroupName);
  }
}
