// The image normalisations, as constants shared by the data layer (which applies them) and the methods (DAFormer's
// colour jitter undoes and redoes them on the mixed images, docs/method.md §12).

/** Caffe/DeepLab BGR mean (CLAN/AdaptSegNet/ADVENT IMG_MEAN), float32 as in the reference. */
export const IMG_MEAN_BGR: readonly number[] = [104.00698793, 116.66876762, 122.67891434].map(Math.fround);
/** torchvision ImageNet statistics, RGB order on 0..1 pixels (option 'imagenet', not the CLAN default). */
export const IMAGENET_MEAN_RGB: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_STD_RGB: readonly number[] = [0.229, 0.224, 0.225];
