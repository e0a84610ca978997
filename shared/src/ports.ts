import type { CampaignRequestedMessage } from './schemas';

/** Publishes "campaign requested": SNS on AWS, an in-process topic on one machine. */
export interface CampaignTopic {
  publish(message: CampaignRequestedMessage): Promise<void>;
}
